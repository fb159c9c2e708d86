"""Send product-update events to the input topic (`tagstream produce`)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from aiokafka.structs import RecordMetadata

from tagstream.clients.connect import broker_unreachable
from tagstream.stream.kafka import PLAINTEXT, KafkaConnection, bootstrap_servers


@dataclass(frozen=True)
class OutEvent:
    key: bytes | None
    value: bytes | None  # None: a tombstone


def catalogue_events(
    path: Path, *, op: str = "upsert", raw: bool = False, skipped: list[str] | None = None
) -> Iterator[OutEvent]:
    """Catalogue rows (the trainer's JSON-lines format, or events) -> product-update events.
    With raw=True each line is sent verbatim (keyed by its product_id/id when it has one)."""
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip(b"\n")
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError) as e:
                if raw:
                    yield OutEvent(None, line)
                elif skipped is not None:
                    skipped.append(f"{path}:{lineno}: invalid JSON ({e})")
                continue
            if not isinstance(row, dict):
                if raw:
                    yield OutEvent(None, line)
                elif skipped is not None:
                    skipped.append(f"{path}:{lineno}: not a JSON object")
                continue
            pid = str(row.get("product_id") or row.get("id") or f"{path.stem}-{lineno}")
            if raw:
                yield OutEvent(pid.encode(), line)
                continue
            event = {
                "event_id": str(uuid.uuid4()),
                "product_id": pid,
                "op": row.get("op", op),
                "title": row.get("title", ""),
                "description": row.get("description") or "",
                "brand": row.get("brand") or "",
                "category_hint": row.get("category_hint") or "",
                "attributes": row.get("attributes") or {},
                "updated_at": datetime.now(UTC).isoformat(),
            }
            yield OutEvent(pid.encode(), json.dumps(event, ensure_ascii=False).encode())


async def produce(
    broker_url: str,
    topic: str,
    events: Iterable[OutEvent],
    rate: float | None = None,
    progress: Callable[[int], object] | None = None,
    *,
    max_request_bytes: int = 1_048_576,
    receipts: list[tuple[int, int]] | None = None,
    connection: KafkaConnection = PLAINTEXT,
    acked: Callable[[int], object] | None = None,
    flush_every: int = 500,
) -> int:
    """Send events at about `rate` per second (None: as fast as possible); waits for every ack.
    With `receipts`, each event's (partition, offset) is appended to it, in sending order; `acked(n)`
    is called whenever the first n events are all acknowledged (every `flush_every` events)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(broker_url),
        acks="all",
        linger_ms=5,
        max_request_size=max_request_bytes,
        **connection.client_kwargs(),
    )
    try:
        await producer.start()
    except KafkaConnectionError:
        await producer.stop()
        raise await broker_unreachable(broker_url, connection) from None
    sent = 0
    try:
        start = time.monotonic()
        futures = []
        for ev in events:
            if rate:
                delay = start + sent / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            futures.append(await producer.send(topic, key=ev.key, value=ev.value))
            sent += 1
            if progress:
                progress(1)
            if len(futures) >= flush_every:
                _collect(await asyncio.gather(*futures), receipts)
                futures.clear()
                if acked:
                    acked(sent)
        _collect(await asyncio.gather(*futures), receipts)
        if acked:
            acked(sent)
    finally:
        await producer.stop()
    return sent


def _collect(metadata: list[RecordMetadata], receipts: list[tuple[int, int]] | None) -> None:
    if receipts is not None:
        receipts.extend((m.partition, m.offset) for m in metadata)
