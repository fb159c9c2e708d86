"""Send product-update events to the input topic (`tagstream produce`)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from aiokafka import AIOKafkaProducer

from stream.topics import bootstrap_servers


@dataclass(frozen=True)
class OutEvent:
    key: bytes | None
    value: bytes


def catalogue_events(path: Path, *, op: str = "upsert", raw: bool = False, skipped: list | None = None) -> Iterator[OutEvent]:
    """Catalogue rows (the trainer's JSON-lines format, or events) -> product-update events.
    With raw=True each line is sent verbatim (keyed by its product_id/id when it has one)."""
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip(b"\n")
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                if raw:
                    yield OutEvent(None, line)
                elif skipped is not None:
                    skipped.append(f"{path}:{lineno}: invalid JSON ({e})")
                continue
            pid = str(row.get("product_id") or row.get("id") or f"{path.stem}-{lineno}") if isinstance(row, dict) else None
            if raw or not isinstance(row, dict):
                yield OutEvent(pid.encode() if pid else None, line)
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
                "updated_at": datetime.now(timezone.utc).isoformat(),
            }
            yield OutEvent(pid.encode(), json.dumps(event, ensure_ascii=False).encode())


async def produce(broker_url: str, topic: str, events: Iterable[OutEvent], rate: float | None = None, progress=None) -> int:
    """Send events at about `rate` per second (None: as fast as possible); waits for every ack."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(broker_url), acks="all", linger_ms=5)
    await producer.start()
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
            if len(futures) >= 500:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent
