"""An example downstream subscriber: read tag events (`tagstream tail-tags`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from tagstream.clients.connect import broker_unreachable
from tagstream.stream.kafka import PLAINTEXT, KafkaConnection, bootstrap_servers


@dataclass(frozen=True)
class Received:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: dict | None  # None: a tombstone (the product was deleted)
    timestamp_ms: int
    headers: dict[str, bytes]


async def read_topic(
    broker_url: str,
    topic: str,
    *,
    group: str | None = None,
    idle_timeout_s: float | None = None,
    connection: KafkaConnection = PLAINTEXT,
) -> AsyncIterator[Received]:
    """Yield messages of `topic` from its beginning (or from the group's committed offsets); stop
    after `idle_timeout_s` without a message (None: never)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers(broker_url),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=group is not None,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
        fetch_max_wait_ms=100,
        **connection.client_kwargs(),
    )
    try:
        await consumer.start()
    except KafkaError:
        await consumer.stop()
        raise await broker_unreachable(broker_url, connection) from None
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=int((idle_timeout_s or 1.0) * 1000), max_records=500)
            if not batch:
                if idle_timeout_s is not None:
                    return
                continue
            for tp, msgs in batch.items():
                for m in msgs:
                    value = None if m.value is None else json.loads(m.value)
                    yield Received(
                        tp.topic,
                        tp.partition,
                        m.offset,
                        m.key.decode() if m.key else None,
                        value,
                        m.timestamp,
                        dict(m.headers or ()),
                    )
    finally:
        await consumer.stop()
