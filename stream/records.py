"""An input record as the worker sees it (broker-independent), and its log context."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float | None = None  # seconds since the epoch (the Kafka record timestamp)

    def log_context(self) -> dict[str, object]:
        """Where the record came from, for structured logs."""
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


def batch_log_context(records: list[Record]) -> dict[str, object]:
    """The log context of a micro-batch, built once: its topic, the offset range it holds from each
    partition ("0:120-151 2:88-90") and its size."""
    ranges: dict[int, tuple[int, int]] = {}
    for r in records:
        lo, hi = ranges.get(r.partition, (r.offset, r.offset))
        ranges[r.partition] = (min(lo, r.offset), max(hi, r.offset))
    offsets = " ".join(f"{p}:{lo}-{hi}" for p, (lo, hi) in sorted(ranges.items()))
    return {"topic": records[0].topic, "offsets": offsets, "events": len(records)}
