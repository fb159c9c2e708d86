"""Results to messages, and publishing them with the broker's acknowledgement.

- `Tagged` -> the tag event on the output topic, keyed by product_id;
- `Deleted` -> a tombstone (null value) for the product's key;
- `Rejected` -> a dead letter on the dead-letter topic, keyed like the input.

Every message carries a `source_event_id` header (tombstones have no body to carry it), and
`superseded_event_ids` when it also answers for replaced events. `publish` sends a batch's messages
and waits for every acknowledgement: a tag event or tombstone that cannot be published becomes a
dead letter (stage `publish`); a dead letter that cannot be published is retried, and after
`max_attempts` the batch fails (the agent then stops the worker before anything is committed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tagstream.stream.errors import WorkerError
from tagstream.stream.events import DeadLetter
from tagstream.stream.results import Deleted, Rejected, Result, Tagged

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]
#: send(topic, key, value, headers) -> a future that resolves when the broker acknowledged it
SendFn = Callable[[str, bytes | None, bytes | None, Headers], Awaitable[Awaitable[Any]]]

#: Room a dead letter's envelope (error text, coordinates, JSON and base64 overhead) is given.
DEAD_LETTER_OVERHEAD_BYTES = 16_384


def dead_letter_value_budget(max_request_bytes: int) -> int:
    """How many bytes of an original value a dead letter can keep and still fit in one producer
    request: base64 grows it by 4/3, and the envelope needs `DEAD_LETTER_OVERHEAD_BYTES`."""
    return max(0, (max_request_bytes - DEAD_LETTER_OVERHEAD_BYTES) * 3 // 4)


class PublishError(WorkerError):
    """A dead letter could not be published after every attempt."""


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers
    result: Result

    @property
    def kind(self) -> str:
        return {Tagged: "tags", Deleted: "tombstone", Rejected: "dead_letter"}[type(self.result)]


@dataclass
class PublishReport:
    tag_events: Counter[str] = field(default_factory=Counter)  # by kind: tags | tombstone
    dead_letters: Counter[str] = field(default_factory=Counter)  # by stage
    latencies_s: list[float] = field(default_factory=list)  # input record timestamp -> ack, per tag event


class Publisher:
    def __init__(
        self,
        send: SendFn,
        *,
        output_topic: str,
        dlq_topic: str,
        max_request_bytes: int,
        max_attempts: int = 8,
        backoff_s: float = 0.5,
    ):
        self._send = send
        self.output_topic = output_topic
        self.dlq_topic = dlq_topic
        self.max_request_bytes = max_request_bytes
        self.max_value_bytes = dead_letter_value_budget(max_request_bytes)
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s

    def message(self, result: Result) -> Message:
        if isinstance(result, Tagged):
            headers: Headers = [("source_event_id", result.source_event_id.encode())]
            return Message(self.output_topic, result.product_id.encode(), result.value, headers, result)
        if isinstance(result, Deleted):
            headers = [("source_event_id", result.event_id.encode())]
            if result.superseded_event_ids:
                headers.append(("superseded_event_ids", json.dumps(list(result.superseded_event_ids)).encode()))
            return Message(self.output_topic, result.product_id.encode(), None, headers, result)
        rec = result.record
        log.warning(
            "dead letter (%s): %s",
            result.stage,
            result.reason,
            extra={**rec.log_context(), "stage": result.stage},
        )
        budget = self.max_value_bytes
        while True:
            dl = DeadLetter.of(
                result.stage,
                result.reason,
                rec.topic,
                rec.partition,
                rec.offset,
                rec.key,
                rec.value,
                max_value_bytes=budget,
                superseded_event_ids=result.superseded_event_ids,
            )
            value = dl.model_dump_json().encode()
            excess = len(value) - self.max_request_bytes
            if excess <= 0 or budget == 0:
                break
            # an unusually large envelope (long ids, escaped text): keep less of the original
            budget = max(0, budget - excess * 3 // 4 - 1024)
        return Message(self.dlq_topic, rec.key[:1024] if rec.key else rec.key, value, [], result)

    async def _start_send(self, m: Message) -> Awaitable[Any]:
        """The send's acknowledgement; a send refused at once (a message over the producer's size
        limit, a producer that stopped) is a failed acknowledgement, handled like a late one."""
        try:
            return await self._send(m.topic, m.key, m.value, m.headers)
        except Exception as e:  # noqa: BLE001 - every failure becomes this message's outcome
            failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            failed.set_exception(e)
            return failed

    async def publish(self, results: Sequence[Result]) -> PublishReport:
        report = PublishReport()
        pending = [self.message(r) for r in results]
        attempt = 0
        while pending:
            futures = [await self._start_send(m) for m in pending]
            outcomes = await asyncio.gather(*futures, return_exceptions=True)
            now = time.time()
            retry: list[Message] = []
            for m, outcome in zip(pending, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    log.warning("publishing to %s failed: %r", m.topic, outcome, extra=m.result.record.log_context())
                    if isinstance(m.result, Rejected):
                        retry.append(m)
                    else:
                        reason = f"publishing to {m.topic} failed: {outcome!r}"
                        retry.append(self.message(Rejected(m.result.record, "publish", reason[:1000])))
                    continue
                if isinstance(m.result, Rejected):
                    report.dead_letters[m.result.stage] += 1
                else:
                    report.tag_events[m.kind] += 1
                    if m.result.record.timestamp:
                        report.latencies_s.append(max(0.0, now - m.result.record.timestamp))
            pending = retry
            if pending:
                attempt += 1
                if attempt >= self.max_attempts:
                    raise PublishError(f"{len(pending)} dead letters could not be published after {attempt} attempts")
                await asyncio.sleep(min(10.0, self.backoff_s * 2**attempt))
        return report
