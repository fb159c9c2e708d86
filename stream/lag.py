"""Consumer lag and idle partitions, per assigned partition, for two gauges:

- `tagstream_consumer_lag`: the partition's end offset minus the next offset to process (what this
  worker finished, else the committed offset). The end offset is the larger of the fetch's high
  watermark (current while the partition is fetched) and the broker's answer to the worker's last
  poll (`poll`, every `lag_poll_s`): a partition the consumer stopped fetching (a full stream buffer
  while Triton is away, a partition Faust never resumed) has a stale high watermark, and its lag
  would stop growing while events pile up. Known from the first fetch or poll on, also when no
  batch ever succeeded.
- `tagstream_partition_idle_seconds`: how long the partition's next offset has not moved while it
  has events waiting (0 when it is caught up). Every partition of a stalled worker grows together;
  one partition growing while the worker's others move is stuck (alert `TagstreamPartitionStuck`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from faust.types import TP
from prometheus_client import Gauge

from tagstream.stream.records import Record

log = logging.getLogger(__name__)


class ConsumerLag:
    def __init__(self, lag: Gauge, idle: Gauge, clock: Callable[[], float] = time.monotonic):
        self.lag = lag
        self.idle = idle
        self._clock = clock
        self._positions: dict[TP, int] = {}  # next offset to process, per assigned partition
        self._end_offsets: dict[TP, int] = {}  # the broker's, at the last poll
        self._seen_next: dict[TP, int] = {}  # the next offset at the last refresh
        self._moved_at: dict[TP, float] = {}  # when the next offset last moved (or it was caught up)
        self._assigned: set[TP] = set()
        self._children: dict[TP, tuple[Any, Any]] = {}  # the two gauges' labelled children, per partition

    def finished(self, records: Iterable[Record]) -> None:
        """Records whose results were published and acked."""
        last: dict[tuple[str, int], int] = {}  # one TP per partition, not per record
        for r in records:
            key = (r.topic, r.partition)
            if r.offset >= last.get(key, -1):
                last[key] = r.offset
        for (topic, partition), offset in last.items():
            tp = TP(topic, partition)
            self._positions[tp] = max(self._positions.get(tp, 0), offset + 1)

    async def poll(self, consumer: Any) -> None:
        """Ask the broker for the assigned partitions' end offsets, then refresh the gauges."""
        try:
            assigned = consumer.assignment()
        except Exception:  # noqa: BLE001 - the consumer is not started yet
            return
        if assigned:
            try:
                ends: Mapping[TP, int] = await consumer.highwaters(*assigned)
            except Exception as e:  # noqa: BLE001 - a rebalance or the broker away: the next poll asks again
                log.debug("end offsets not known this time: %s", e)
            else:
                self._end_offsets.update({tp: end for tp, end in ends.items() if end is not None})
        self.refresh(consumer)

    def refresh(self, consumer: Any) -> None:
        """Set the gauges from the consumer's assignment, high watermarks and committed offsets."""
        try:
            assigned = consumer.assignment()
        except Exception:  # noqa: BLE001 - the consumer is not started yet
            return
        if assigned != self._assigned:
            self._forget_revoked(assigned)
        committed: dict[TP, int | None] = getattr(consumer, "_committed_offset", {})
        now = self._clock()
        for tp in assigned:
            end = _end_offset(consumer, tp, self._end_offsets.get(tp))
            if end is None:
                continue
            next_offset = max(self._positions.get(tp, 0), committed.get(tp) or 0)
            lag = max(0, end - next_offset)
            if lag == 0 or next_offset > self._seen_next.get(tp, next_offset) or tp not in self._moved_at:
                self._moved_at[tp] = now
            self._seen_next[tp] = next_offset
            children = self._children.get(tp)
            if children is None:
                labels = (tp.topic, str(tp.partition))
                children = self._children[tp] = (self.lag.labels(*labels), self.idle.labels(*labels))
            children[0].set(lag)
            children[1].set(round(now - self._moved_at[tp], 3) if lag else 0.0)

    def _forget_revoked(self, assigned: set[TP]) -> None:
        """Revoked partitions leave the gauges: another worker reports them now."""
        for kept in (self._positions, self._end_offsets, self._seen_next, self._moved_at):
            for tp in [tp for tp in kept if tp not in assigned]:
                del kept[tp]
        for tp in [tp for tp in self._children if tp not in assigned]:
            del self._children[tp]
            for gauge in (self.lag, self.idle):
                gauge.remove(tp.topic, str(tp.partition))
        self._assigned = set(assigned)


def _end_offset(consumer: Any, tp: TP, polled: int | None) -> int | None:
    """The larger of the fetch's high watermark and the broker's end offset at the last poll."""
    try:
        fetched = consumer.highwater(tp)
    except Exception:  # noqa: BLE001 - not fetched yet
        fetched = None
    known = [o for o in (fetched, polled) if o is not None]
    return max(known) if known else None
