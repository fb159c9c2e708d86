"""The dead-letter rate breaker: a broken model or input must not quietly dead-letter the whole
stream. Each batch's dead letters are counted before anything of it is published; when more than
TAGSTREAM_DLQ_MAX_RATE of the last TAGSTREAM_DLQ_WINDOW events would be dead letters, the batch is not
published and the worker stops (crash-only: nothing of it committed, so a fixed worker replays it)."""

from __future__ import annotations

import collections
from collections.abc import Sequence

from tagstream.stream.errors import WorkerError
from tagstream.stream.results import Rejected, Result


class DeadLetterRateExceeded(WorkerError):
    """Too many recent events were dead-lettered: the model or the input is broken."""


class DeadLetterRate:
    """The share of dead letters over about the last `window` events, batch by batch."""

    def __init__(self, max_rate: float, window: int):
        self.max_rate = max_rate
        self.window = window
        self._events: collections.deque[int] = collections.deque()  # per batch: events
        self._dead: collections.deque[int] = collections.deque()  # per batch: dead letters

    def admit(self, events: int, results: Sequence[Result]) -> None:
        """Count a batch of `events` inputs whose `results` are about to be published; raise
        `DeadLetterRateExceeded` (and count nothing) when publishing them would pass the limit."""
        dead = sum(isinstance(r, Rejected) for r in results)
        self._events.append(events)
        self._dead.append(dead)
        while len(self._events) > 1 and sum(self._events) - self._events[0] >= self.window:
            self._events.popleft()
            self._dead.popleft()
        seen, dead_total = sum(self._events), sum(self._dead)
        if self.max_rate < 1 and seen >= self.window and dead_total > self.max_rate * seen:
            self._events.pop()
            self._dead.pop()
            raise DeadLetterRateExceeded(
                f"{dead_total} of the last {seen} events would be dead letters (limit TAGSTREAM_DLQ_MAX_RATE="
                f"{self.max_rate}); stopping before publishing this batch: check the model and the input, "
                "then replay the dead letters"
            )
