"""One micro-batch, from raw records to outgoing messages:

decode -> validate -> latest event per product -> content hash -> Redis MGET (hash + model version)
-> one batched Triton request for the misses -> Redis SET -> tag events / tombstones / dead letters.

Nothing here talks to Kafka: the agent hands records in and publishes what comes out, then acks.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import ValidationError

from stream.cache import TagCache, cache_key
from stream.errors import BadInput, ModelUnavailable, ServerError, TritonTimeout
from stream.events import DeadLetter, Limits, ProductUpdate, Stage, TagEvent, TagScore
from stream.metrics import WorkerMetrics
from stream.triton_client import TritonTagger, VersionWatcher
from tagstream.artifact import decode_tags
from tagstream.text import content_hash

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float | None = None  # seconds since the epoch (the Kafka record timestamp)


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes | None  # None: a tombstone
    record: Record
    kind: str  # tags | tombstone | dead_letter
    stage: Stage | None = None


@dataclass
class BatchResult:
    messages: list[Outgoing] = field(default_factory=list)
    inferred: int = 0
    cache_hits: int = 0


class InferenceUnavailable(Exception):
    """Triton could not answer after the client's retries: pause, then retry the batch."""


def _validation_reason(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "event"
        parts.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


class BatchProcessor:
    def __init__(self, *, tagger: TritonTagger, versions: VersionWatcher, cache: TagCache, metrics: WorkerMetrics,
                 output_topic: str, dlq_topic: str, model_name: str, limits: Limits, max_event_bytes: int):
        self.tagger = tagger
        self.versions = versions
        self.cache = cache
        self.metrics = metrics
        self.output_topic = output_topic
        self.dlq_topic = dlq_topic
        self.model_name = model_name
        self.limits = limits
        self.max_event_bytes = max_event_bytes

    def dead_letter(self, rec: Record, stage: Stage, error: str) -> Outgoing:
        log.warning("dead letter (%s) %s[%d]@%d: %s", stage, rec.topic, rec.partition, rec.offset, error,
                    extra={"topic": rec.topic, "partition": rec.partition, "offset": rec.offset, "stage": stage})
        dl = DeadLetter.of(stage, error, rec.topic, rec.partition, rec.offset, rec.key, rec.value)
        return Outgoing(self.dlq_topic, rec.key, dl.model_dump_json().encode(), rec, "dead_letter", stage)

    def _decode(self, rec: Record) -> tuple[ProductUpdate | None, Outgoing | None]:
        if rec.value is None:
            return None, self.dead_letter(rec, "decode", "empty value (null)")
        if len(rec.value) > self.max_event_bytes:
            return None, self.dead_letter(rec, "decode", f"event too large: {len(rec.value)} > {self.max_event_bytes} bytes")
        try:
            obj = json.loads(rec.value)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return None, self.dead_letter(rec, "decode", f"invalid JSON: {e}")
        if not isinstance(obj, dict):
            return None, self.dead_letter(rec, "decode", f"event is a JSON {type(obj).__name__}, not an object")
        try:
            ev = ProductUpdate.model_validate(obj, context={"limits": self.limits})
        except ValidationError as e:
            return None, self.dead_letter(rec, "validate", _validation_reason(e))
        if rec.key is not None and rec.key.decode("utf-8", "replace") != ev.product_id:
            return None, self.dead_letter(rec, "validate", f"message key {rec.key[:80]!r} does not match product_id {ev.product_id!r}")
        return ev, None

    async def _infer(self, texts: list[str]) -> tuple[np.ndarray | None, list[str | None], str, tuple[str, ...], np.ndarray]:
        """Scores for unique texts. Returns (scores, per-text error or None, version, tags, thresholds)."""
        self.metrics.inference_requests.inc()
        self.metrics.inference_items.inc(len(texts))
        t0 = time.perf_counter()
        try:
            batch = await self.tagger.infer(texts)
            self.metrics.inference_seconds.observe(time.perf_counter() - t0)
            return batch.scores, [None] * len(texts), batch.model.version, batch.model.tags, batch.model.thresholds
        except (TritonTimeout, ModelUnavailable) as e:
            self.metrics.inference_failures.labels(type(e).__name__).inc()
            raise InferenceUnavailable(str(e)) from e
        except (BadInput, ServerError) as e:
            self.metrics.inference_failures.labels(type(e).__name__).inc()
            log.warning("batch inference failed (%s); isolating items: %s", type(e).__name__, e)
        # one bad item must not sink the batch: score items one by one
        rows, errors, info = [], [], None
        for t in texts:
            try:
                b = await self.tagger.infer([t])
                rows.append(b.scores[0])
                errors.append(None)
                info = b.model
            except (TritonTimeout, ModelUnavailable) as e:
                raise InferenceUnavailable(str(e)) from e
            except (BadInput, ServerError) as e:
                rows.append(None)
                errors.append(f"{type(e).__name__}: {e}")
        if info is None:
            return None, errors, "", (), np.zeros(0)
        n = len(info.tags)
        scores = np.stack([r if r is not None else np.zeros(n, np.float32) for r in rows])
        return scores, errors, info.version, info.tags, info.thresholds

    async def process(self, records: Sequence[Record]) -> BatchResult:
        result = BatchResult()
        self.metrics.events_in.inc(len(records))
        self.metrics.batch_size.observe(len(records))
        latest: dict[str, tuple[ProductUpdate, Record]] = {}
        for rec in records:
            ev, dl = self._decode(rec)
            if dl is not None:
                result.messages.append(dl)
                continue
            prev = latest.get(ev.product_id)
            # the latest event per product wins: by updated_at, then by position in the partition
            if prev is None or (ev.updated_at, rec.offset) >= (prev[0].updated_at, prev[1].offset):
                if prev is not None:
                    self.metrics.events_superseded.inc()
                latest[ev.product_id] = (ev, rec)
            else:
                self.metrics.events_superseded.inc()

        upserts: list[tuple[ProductUpdate, Record, str, str]] = []
        for pid, (ev, rec) in latest.items():
            if ev.op == "delete":
                result.messages.append(Outgoing(self.output_topic, pid.encode(), None, rec, "tombstone"))
            else:
                text = ev.text
                upserts.append((ev, rec, text, content_hash(text)))
        if not upserts:
            return result

        try:
            version = await self.versions.current()
        except (TritonTimeout, ModelUnavailable) as e:
            raise InferenceUnavailable(str(e)) from e
        self.metrics.model_version.set(int(version))
        keys = [cache_key(self.model_name, version, h) for _, _, _, h in upserts]
        cached = await self.cache.get_many(keys)
        tagged: dict[str, tuple[list[tuple[str, float]], str, bool]] = {}  # hash -> (tags, version, cached)
        for (_, _, _, h), hit in zip(upserts, cached):
            if hit is not None:
                tagged[h] = (hit.tags, version, True)
        hits = sum(1 for c in cached if c is not None)
        self.metrics.cache_hits.inc(hits)
        self.metrics.cache_misses.inc(len(upserts) - hits)
        result.cache_hits = hits

        misses: dict[str, str] = {}  # hash -> text (identical texts are inferred once)
        for _, _, text, h in upserts:
            if h not in tagged:
                misses.setdefault(h, text)
        failed: dict[str, str] = {}
        if misses:
            hashes = list(misses)
            scores, errors, served, tags, thresholds = await self._infer([misses[h] for h in hashes])
            if served:
                self.versions.observe(served)
            new_entries: dict[str, list[tuple[str, float]]] = {}
            if scores is not None:
                decoded = decode_tags(scores, list(tags), thresholds)
                for h, row, err in zip(hashes, decoded, errors):
                    if err is None:
                        tagged[h] = (row, served, False)
                        new_entries[cache_key(self.model_name, served, h)] = row
            for h, err in zip(hashes, errors):
                if err is not None:
                    failed[h] = err
            result.inferred = len(new_entries)
            await self.cache.set_many(new_entries)

        for ev, rec, _, h in upserts:
            if h in failed:
                result.messages.append(self.dead_letter(rec, "inference", failed[h]))
                continue
            tags, ver, was_cached = tagged[h]
            out = TagEvent(product_id=ev.product_id, source_event_id=ev.event_id, tags=[TagScore(tag=t, score=round(s, 6)) for t, s in tags],
                           model_name=self.model_name, model_version=ver, content_hash=h, cached=was_cached)
            result.messages.append(Outgoing(self.output_topic, ev.product_id.encode(), out.model_dump_json().encode(), rec, "tags"))
        return result
