"""What one micro-batch produces, as data: one result per input event that needs an output, and the
batch's statistics. The pipeline makes them; the app alone maps them to topics and metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tagstream.stream.events import Stage, TagEvent
from tagstream.stream.records import Record


@dataclass(frozen=True, slots=True)
class Tagged:
    """An upsert's tags: a tag event for the output topic, serialised (`value`, a `TagEvent`'s JSON)."""

    record: Record
    product_id: str
    source_event_id: str
    value: bytes

    @property
    def event(self) -> TagEvent:
        """The tag event, read back from its JSON (for readers and tests; the worker publishes `value`)."""
        return TagEvent.model_validate_json(self.value)


@dataclass(frozen=True, slots=True)
class Deleted:
    """A delete: a tombstone for the product's key."""

    record: Record
    product_id: str
    event_id: str
    superseded_event_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rejected:
    """An event that cannot be tagged: a dead letter with the stage that failed and why."""

    record: Record
    stage: Stage
    reason: str
    superseded_event_ids: tuple[str, ...] = ()


Result = Tagged | Deleted | Rejected


@dataclass(slots=True)
class BatchStats:
    """Counts and timings of one micro-batch, for the metrics."""

    events: int = 0
    superseded: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    cache_errors: Counter[str] = field(default_factory=Counter)  # by operation: get | set
    inference_requests: int = 0
    inferred: int = 0  # unique texts scored by the model
    texts_sent: int = 0  # texts sent to the model (more than `inferred` with explanations)
    inference_seconds: float = 0.0
    inference_failures: Counter[str] = field(default_factory=Counter)  # by error class
    model_version: str | None = None


@dataclass(slots=True)
class BatchOutcome:
    results: list[Result] = field(default_factory=list)
    stats: BatchStats = field(default_factory=BatchStats)
