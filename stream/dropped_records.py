"""Records the consumer fetched that Faust never handed to the streams, per partition, so that the
consumer can seek back to them.

Faust advances aiokafka's position when it fetches; when its flow stops in the middle of a fetch (a
rebalance begins), the rest of that fetch is dropped and Faust seeks every partition back to its
committed offset. When that seek fails ("No current assignment" while the group is still moving) or
a fetch lands after it, the position stays past the dropped records: the next records read jump over
them, Faust records the jump as a gap (as if the offsets did not exist, like compacted ones) and
commits past it. Those events were never tagged and are never read again (seen under load: 3 x ~41
events skipped by one worker after two rebalances in a row).

This ledger knows, per partition, the first and last offsets fetched and the last offset handed over
since the position was last set (assignment or seek); a fetched offset above the last one handed over
was dropped, and the consumer seeks back to the first of them before its next fetch.
"""

from __future__ import annotations

from dataclasses import dataclass

from faust.types import TP


@dataclass
class _Reads:
    first_fetched: int  # the first offset fetched since the position was set
    last_fetched: int
    last_handed_over: int | None = None


class DroppedRecords:
    def __init__(self) -> None:
        self._reads: dict[TP, _Reads] = {}

    def position_set(self, tp: TP | None = None) -> None:
        """The position of `tp` (None: of every partition) was set: by a seek or a new assignment."""
        if tp is None:
            self._reads.clear()
        else:
            self._reads.pop(tp, None)

    def fetched(self, tp: TP, first: int, last: int) -> None:
        """aiokafka returned offsets `first`..`last` of `tp` (its position is now past `last`)."""
        reads = self._reads.get(tp)
        if reads is None:
            self._reads[tp] = _Reads(first, last)
        else:
            reads.last_fetched = max(reads.last_fetched, last)

    def handed_over(self, tp: TP, offset: int) -> None:
        """Faust handed the record at `offset` to the streams."""
        reads = self._reads.get(tp)
        if reads is not None:
            reads.last_handed_over = offset if reads.last_handed_over is None else max(reads.last_handed_over, offset)

    def rewinds(self) -> dict[TP, int]:
        """Per partition with records fetched and not handed over, the offset to seek back to."""
        out = {}
        for tp, reads in self._reads.items():
            handed = reads.last_handed_over
            if handed is None:
                out[tp] = reads.first_fetched
            elif reads.last_fetched > handed:
                out[tp] = handed + 1
        return out
