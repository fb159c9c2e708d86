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
    """The log context of a micro-batch, built once: its first record's coordinates, the last
    offset and the size."""
    first, last = records[0], records[-1]
    return {**first.log_context(), "last_offset": last.offset, "events": len(records)}
