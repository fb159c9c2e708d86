"""One micro-batch, from raw records to results, in named steps:

1. `decode`: per event, JSON -> `ProductUpdate` (validated against the size limits) -> model text and
   content hash. Any failure here belongs to that event alone and becomes its `Rejected` result.
2. `latest_per_product`: the latest event per product wins (by `updated_at`, then offset); the others
   are listed in the winner's result as superseded.
3. `lookup_cache`: one Redis MGET for the upserts, keyed by model, serving version and content hash.
4. `infer_misses`: one batched Triton call for the distinct texts that missed; if Triton rejects the
   batch (bad input, server error), the texts are scored one by one so that one bad text only fails
   its own events. New results are written back to the cache.
5. `build_results`: a `Tagged`, `Deleted` or `Rejected` result per winning event.

Nothing here talks to Kafka or touches metrics: `process` returns results and statistics as data.
`Retryable` errors (Triton away) propagate to the agent, which pauses and retries the whole batch.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from tagstream.core.artifact import decode_tags
from tagstream.core.explain import occluded_texts, top_words, words_of
from tagstream.core.text import content_hash
from tagstream.stream.cache import CachedResult, Lookup, TagList, Why, cache_key
from tagstream.stream.errors import BadInput, ServerError
from tagstream.stream.events import (
    SCHEMA_VERSION,
    EventLimits,
    ExtractedAttribute,
    ProductUpdate,
    tag_event_json,
    utcnow,
)
from tagstream.stream.records import Record
from tagstream.stream.results import BatchOutcome, BatchStats, Deleted, Rejected, Result, Tagged
from tagstream.stream.triton_client import ScoredBatch

log = logging.getLogger(__name__)


class Inference(Protocol):
    """What the pipeline needs of the model server (`TritonInference`): the serving version, and scores
    for texts."""

    async def serving_version(self) -> str: ...

    async def infer(self, texts: Sequence[str]) -> ScoredBatch: ...


class Cache(Protocol):
    async def get_many(self, keys: Sequence[str]) -> Lookup: ...

    async def set_many(self, items: Mapping[str, CachedResult]) -> bool: ...


@dataclass(frozen=True, slots=True)
class Candidate:
    """A valid event with the text the model reads and its hash (empty for a delete)."""

    record: Record
    event: ProductUpdate
    text: str
    content_hash: str


@dataclass(frozen=True, slots=True)
class Winner:
    candidate: Candidate
    superseded: tuple[str, ...]  # event ids this one replaced


@dataclass(frozen=True, slots=True)
class Scored:
    tags: TagList
    version: str
    cached: bool
    why: Why | None = None
    attributes: list[ExtractedAttribute] | None = None


def _validation_reason(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "event"
        parts.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def latest_per_product(candidates: Sequence[Candidate]) -> list[Winner]:
    """The latest event per product (by updated_at, then by position in the partition), in order of
    first appearance, with the ids of the events it replaced."""
    best: dict[str, Candidate] = {}
    replaced: dict[str, list[str]] = {}
    for c in candidates:
        pid = c.event.product_id
        prev = best.get(pid)
        if prev is None:
            best[pid] = c
            replaced[pid] = []
        elif (c.event.updated_at, c.record.offset) >= (prev.event.updated_at, prev.record.offset):
            replaced[pid].append(prev.event.event_id)
            best[pid] = c
        else:
            replaced[pid].append(c.event.event_id)
    return [Winner(c, tuple(replaced[pid])) for pid, c in best.items()]


class BatchProcessor:
    def __init__(
        self, *, inference: Inference, cache: Cache, model_name: str, limits: EventLimits, explain_top_words: int = 0
    ):
        self.inference = inference
        self.cache = cache
        self.model_name = model_name
        self.limits = limits
        self._context = {"limits": limits}  # the events' validation context
        self.explain_top_words = explain_top_words

    async def process(self, records: Sequence[Record]) -> BatchOutcome:
        out = BatchOutcome(stats=BatchStats(events=len(records)))
        candidates = self.decode(records, out.results)
        winners = latest_per_product(candidates)
        out.stats.superseded = len(candidates) - len(winners)
        upserts = [w for w in winners if w.candidate.event.op == "upsert"]
        scored: dict[str, Scored] = {}
        failed: dict[str, str] = {}
        if upserts:
            version = await self.inference.serving_version()
            out.stats.model_version = version
            scored = await self.lookup_cache(upserts, version, out.stats)
            failed = await self.infer_misses(upserts, scored, out.stats)
        out.results.extend(self.build_results(winners, scored, failed))
        return out

    # 1 ---------------------------------------------------------------------------------------
    def decode(self, records: Sequence[Record], rejected: list[Result]) -> list[Candidate]:
        """Valid events as candidates; every failure is that event's `Rejected` result."""
        candidates = []
        for rec in records:
            try:
                c = self._decode_one(rec)
            except Exception as e:  # noqa: BLE001 - a failure of one event must not touch the others
                log.warning("unexpected error decoding an event: %r", e, extra=rec.log_context())
                c = Rejected(rec, "validate", f"unexpected error: {e!r}"[:500])
            if isinstance(c, Rejected):
                rejected.append(c)
            else:
                candidates.append(c)
        return candidates

    def _decode_one(self, rec: Record) -> Candidate | Rejected:
        if rec.value is None:
            return Rejected(rec, "decode", "empty value (null)")
        if len(rec.value) > self.limits.max_event_bytes:
            return Rejected(rec, "decode", f"event too large: {len(rec.value)} > {self.limits.max_event_bytes} bytes")
        try:
            # the common case in one pass of pydantic-core (measured: this step 25 % less CPU than
            # json.loads + model_validate); any failure takes the step-by-step path below, which
            # decides and words the reason, so a rejected event reads the same either way
            ev = ProductUpdate.model_validate_json(rec.value, context=self._context)
        except ValidationError:
            decoded = self._decode_step_by_step(rec)
            if isinstance(decoded, Rejected):
                return decoded
            ev = decoded
        if rec.key is not None and rec.key.decode("utf-8", "replace") != ev.product_id:
            return Rejected(
                rec,
                "validate",
                f"message key {rec.key[:80]!r} does not match product_id {ev.product_id[:80]!r}",
            )
        if ev.op == "delete":
            return Candidate(rec, ev, "", "")
        text = ev.text
        return Candidate(rec, ev, text, content_hash(text))

    def _decode_step_by_step(self, rec: Record) -> ProductUpdate | Rejected:
        assert rec.value is not None
        try:
            obj = json.loads(rec.value)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return Rejected(rec, "decode", f"invalid JSON: {e}")
        except (ValueError, RecursionError) as e:  # a number too long to convert, nesting too deep
            return Rejected(rec, "decode", f"unreadable JSON: {type(e).__name__}: {str(e)[:200]}")
        if not isinstance(obj, dict):
            return Rejected(rec, "decode", f"event is a JSON {type(obj).__name__}, not an object")
        try:
            return ProductUpdate.model_validate(obj, context=self._context)
        except ValidationError as e:
            return Rejected(rec, "validate", _validation_reason(e))

    # 3 ---------------------------------------------------------------------------------------
    async def lookup_cache(self, upserts: Sequence[Winner], version: str, stats: BatchStats) -> dict[str, Scored]:
        """Cached results by content hash (the serving version is part of the key)."""
        hashes = list(dict.fromkeys(w.candidate.content_hash for w in upserts))
        lookup = await self.cache.get_many([cache_key(self.model_name, version, h) for h in hashes])
        if lookup.failed:
            stats.cache_errors["get"] += 1
        found = {
            h: Scored(r.tags, version, True, self._asked_why(r.why), r.attributes)
            for h, r in zip(hashes, lookup.values, strict=True)
            if r is not None and self._explained_enough(r)
        }
        stats.cache_hits = sum(1 for w in upserts if w.candidate.content_hash in found)
        stats.cache_misses = len(upserts) - stats.cache_hits
        return found

    def _explained_enough(self, r: CachedResult) -> bool:
        """Without explanations any entry serves; with N words asked, only one explained for at least
        N words per tag (one explained for fewer, or by an older worker that did not record it, is
        scored again and replaced)."""
        return not self.explain_top_words or (r.why is not None and r.why_words >= self.explain_top_words)

    def _asked_why(self, why: Why | None) -> Why | None:
        """A cached entry's explanations as this worker's settings ask for them: none without
        explanations, at most `explain_top_words` words per tag with them (another worker, or an
        earlier setting, may have cached more; a tag event's content must not depend on that)."""
        if why is None or not self.explain_top_words:
            return None
        n = self.explain_top_words
        return {tag: words[:n] for tag, words in why.items()}

    # 4 ---------------------------------------------------------------------------------------
    async def infer_misses(
        self, upserts: Sequence[Winner], scored: dict[str, Scored], stats: BatchStats
    ) -> dict[str, str]:
        """Score the distinct texts that missed the cache into `scored`; returns the content hashes
        whose inference failed, with the reason."""
        misses: dict[str, str] = {}
        for w in upserts:
            if w.candidate.content_hash not in scored:
                misses.setdefault(w.candidate.content_hash, w.candidate.text)
        if not misses:
            return {}
        hashes = list(misses)
        # what each text sends to the model: the text, and with explanations once more per word left out
        units = {h: [t, *occluded_texts(t)] if self.explain_top_words else [t] for h, t in misses.items()}
        failed: dict[str, str] = {}
        t0 = time.perf_counter()
        try:
            batches: list[tuple[list[str], ScoredBatch]] = [
                (hashes, await self._infer([x for h in hashes for x in units[h]], stats))
            ]
        except (BadInput, ServerError) as e:
            stats.inference_failures[type(e).__name__] += 1
            log.warning(
                "batch inference failed (%s); scoring its %d texts one by one: %s",
                type(e).__name__,
                len(hashes),
                e,
            )
            batches = []
            for h in hashes:
                try:
                    batches.append(([h], await self._infer(units[h], stats)))
                except (BadInput, ServerError) as item_error:
                    stats.inference_failures[type(item_error).__name__] += 1
                    failed[h] = f"{type(item_error).__name__}: {item_error}"
        stats.inference_seconds += time.perf_counter() - t0
        new_entries: dict[str, CachedResult] = {}
        for batch_hashes, batch in batches:
            info = batch.model
            stats.model_version = info.version
            starts = np.cumsum([0] + [len(units[h]) for h in batch_hashes])[:-1]
            decoded = decode_tags(batch.scores[starts], list(info.tags), info.thresholds, info.hierarchy)
            for h, start, tags in zip(batch_hashes, starts, decoded, strict=True):
                why = self._why(batch, int(start), len(units[h]), misses[h], tags) if self.explain_top_words else None
                found = batch.attributes[int(start)] if batch.attributes is not None else None
                scored[h] = Scored(tags, info.version, False, why, found)
                new_entries[cache_key(self.model_name, info.version, h)] = CachedResult(
                    tags, why, found, self.explain_top_words
                )
        stats.inferred += len(new_entries)
        if not await self.cache.set_many(new_entries):
            stats.cache_errors["set"] += 1
        return failed

    async def _infer(self, texts: list[str], stats: BatchStats) -> ScoredBatch:
        stats.inference_requests += 1
        stats.texts_sent += len(texts)
        return await self.inference.infer(texts)

    def _why(self, batch: ScoredBatch, start: int, n: int, text: str, tags: TagList) -> Why:
        """Each tag's top words, from the text's scores and those of its occluded copies."""
        index = {t: j for j, t in enumerate(batch.model.tags)}
        tops = top_words(
            batch.scores[start],
            batch.scores[start + 1 : start + n],
            words_of(text),
            [index[t] for t, _ in tags],
            self.explain_top_words,
        )
        return {batch.model.tags[j]: words for j, words in tops.items()}

    # 5 ---------------------------------------------------------------------------------------
    def build_results(
        self, winners: Sequence[Winner], scored: Mapping[str, Scored], failed: Mapping[str, str]
    ) -> list[Result]:
        results: list[Result] = []
        tagged_at = utcnow()  # one time for the batch's tag events: they are made together
        for w in winners:
            c = w.candidate
            ev = c.event
            if ev.op == "delete":
                results.append(Deleted(c.record, ev.product_id, ev.event_id, w.superseded))
            elif c.content_hash in failed:
                results.append(Rejected(c.record, "inference", failed[c.content_hash], w.superseded))
            else:
                s = scored[c.content_hash]
                try:
                    value = self._tag_event_json(ev, w.superseded, c.content_hash, s, tagged_at)
                except PydanticSerializationError as e:  # a value of the wrong type: this event alone fails
                    log.error("could not serialise a tag event: %s", e, extra=c.record.log_context())
                    results.append(
                        Rejected(c.record, "publish", f"tag event not serialisable: {e}"[:500], w.superseded)
                    )
                    continue
                results.append(Tagged(c.record, ev.product_id, ev.event_id, value))
        return results

    def _tag_event_json(
        self, ev: ProductUpdate, superseded: tuple[str, ...], content_hash: str, s: Scored, tagged_at: datetime
    ) -> bytes:
        return tag_event_json(
            {
                "schema_version": SCHEMA_VERSION,
                "product_id": ev.product_id,
                "source_event_id": ev.event_id,
                "superseded_event_ids": list(superseded),
                "tags": [{"tag": t, "score": round(score, 6)} for t, score in s.tags],
                "model_name": self.model_name,
                "model_version": s.version,
                "content_hash": content_hash,
                "cached": s.cached,
                "explanations": None
                if s.why is None
                else {t: [{"word": w, "weight": x} for w, x in words] for t, words in s.why.items()},
                "attributes": s.attributes,
                "tagged_at": tagged_at,
            }
        )
