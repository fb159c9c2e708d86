"""Re-send chosen dead letters to the input topic after a fix (`tagstream replay-dlq`).

Dead letters are read with a consumer group (default `tagstream-dlq-replay`): each is looked at once
per group, and the group's offsets are committed only after the re-sent events are acknowledged, so
a replay that stops half-way resumes where it stopped. A dead letter whose original was too large to
keep whole (`value_truncated`) cannot be replayed; it is counted and listed.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError

from tagstream.clients.connect import broker_unreachable
from tagstream.stream.events import DeadLetter
from tagstream.stream.kafka import PLAINTEXT, KafkaConnection, bootstrap_servers

DEFAULT_GROUP = "tagstream-dlq-replay"


@dataclass
class ReplayFilter:
    stages: frozenset[str] = frozenset()  # empty: every stage
    contains: str | None = None  # the error must contain this text
    source_topic: str | None = None  # only dead letters of this input topic

    def matches(self, dl: DeadLetter) -> bool:
        return (
            (not self.stages or dl.stage in self.stages)
            and (self.contains is None or self.contains in dl.error)
            and (self.source_topic is None or dl.topic == self.source_topic)
        )


@dataclass
class ReplayReport:
    read: int = 0
    matched: int = 0
    replayed: Counter[str] = field(default_factory=Counter)  # by stage
    truncated: list[str] = field(default_factory=list)  # coordinates of originals kept only in part
    unreadable: int = 0  # messages on the topic that are not dead letters


def _b64(value: str | None) -> bytes | None:
    return None if value is None else base64.b64decode(value)


async def replay_dead_letters(
    broker_url: str,
    dlq_topic: str,
    *,
    to_topic: str | None = None,
    select: ReplayFilter | None = None,
    group: str = DEFAULT_GROUP,
    limit: int | None = None,
    dry_run: bool = False,
    idle_timeout_s: float = 3.0,
    echo: Callable[[str], object] = lambda _: None,
    connection: KafkaConnection = PLAINTEXT,
) -> ReplayReport:
    """Re-send the originals of the matching dead letters (to `to_topic`, or to the topic each came
    from) until the dead-letter topic has been idle for `idle_timeout_s` or `limit` were re-sent."""
    select = select or ReplayFilter()
    servers = bootstrap_servers(broker_url)
    auth = connection.client_kwargs()
    consumer = AIOKafkaConsumer(
        dlq_topic,
        bootstrap_servers=servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        **auth,
    )
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", max_request_size=16 * 1024 * 1024, **auth)
    try:
        await consumer.start()
        await producer.start()
    except KafkaConnectionError:
        await consumer.stop()
        await producer.stop()
        raise await broker_unreachable(broker_url, connection) from None
    report = ReplayReport()
    try:
        while limit is None or sum(report.replayed.values()) < limit:
            batch = await consumer.getmany(timeout_ms=int(idle_timeout_s * 1000), max_records=200)
            if not batch:
                break
            futures = []
            for _tp, messages in batch.items():
                for m in messages:
                    if limit is not None and sum(report.replayed.values()) >= limit:
                        break
                    report.read += 1
                    try:
                        dl = DeadLetter.model_validate(json.loads(m.value or b"null"))
                    except (ValueError, ValidationError):
                        report.unreadable += 1
                        continue
                    if not select.matches(dl):
                        continue
                    report.matched += 1
                    where = f"{dl.topic}[{dl.partition}]@{dl.offset}"
                    if dl.value_truncated:
                        report.truncated.append(where)
                        continue
                    echo(f"{'would replay' if dry_run else 'replay'} {where} ({dl.stage}: {dl.error[:80]})")
                    report.replayed[dl.stage] += 1
                    if not dry_run:
                        target = to_topic or dl.topic
                        futures.append(await producer.send(target, key=_b64(dl.key_b64), value=_b64(dl.value_b64)))
            for f in futures:
                await f
            if not dry_run:
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()
    return report
