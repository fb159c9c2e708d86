"""BatchProcessor's logic with in-memory stand-ins for the cache and the model (unit level; the
integration tests run the same code against real Redis, Triton and the broker)."""

import asyncio
import json

import numpy as np

from stream.errors import BadInput
from stream.events import Limits
from stream.metrics import WorkerMetrics
from stream.processing import BatchProcessor, Record
from stream.triton_client import ModelInfo, ScoredBatch


class FakeCache:
    def __init__(self):
        self.data = {}

    async def get_many(self, keys):
        from stream.cache import CachedTags

        return [CachedTags(self.data[k]) if k in self.data else None for k in keys]

    async def set_many(self, items):
        self.data.update(items)


class FakeTagger:
    """Scores: tag 'long' if the text has more than 10 characters; rejects texts containing BAD."""

    def __init__(self):
        self.calls = []
        self.version = "1"

    async def infer(self, texts):
        self.calls.append(list(texts))
        if any("BAD" in t for t in texts):
            raise BadInput("bad input: nope")
        scores = np.array([[0.9 if len(t) > 10 else 0.1, 0.6] for t in texts], dtype=np.float32)
        return ScoredBatch(scores, ModelInfo("m", self.version, ("long", "any"), np.array([0.5, 0.5], dtype=np.float32)))


class FakeVersions:
    def __init__(self, tagger):
        self.tagger = tagger

    async def current(self):
        return self.tagger.version

    def observe(self, v):
        pass


def rec(offset, pid, title="A fairly long title", op="upsert", ts="2026-01-01T00:00:00Z", raw=None):
    value = raw if raw is not None else json.dumps({"event_id": f"e{offset}", "product_id": pid, "op": op, "title": title, "updated_at": ts}).encode()
    return Record("in", 0, offset, pid.encode(), value, 1.0)


def make():
    tagger, cache = FakeTagger(), FakeCache()
    p = BatchProcessor(tagger=tagger, versions=FakeVersions(tagger), cache=cache, metrics=WorkerMetrics(), output_topic="out",
                       dlq_topic="dlq", model_name="m", limits=Limits(), max_event_bytes=10_000)
    return p, tagger, cache


def run(p, records):
    return asyncio.run(p.process(records))


def test_latest_event_per_product_wins_and_identical_texts_infer_once():
    p, tagger, _ = make()
    res = run(p, [rec(0, "a", "Old title here"), rec(1, "a", "New title here"), rec(2, "b", "New title here"), rec(3, "c", "short")])
    tags = {m.key.decode(): json.loads(m.value) for m in res.messages}
    assert set(tags) == {"a", "b", "c"}
    assert tags["a"]["source_event_id"] == "e1"
    assert tagger.calls == [["New title here", "short"]]  # deduplicated by content hash
    assert [t["tag"] for t in tags["a"]["tags"]] == ["long", "any"]
    assert [t["tag"] for t in tags["c"]["tags"]] == ["any"]


def test_older_updated_at_does_not_win():
    p, _, _ = make()
    res = run(p, [rec(0, "a", "Newer title!!", ts="2026-02-01T00:00:00Z"), rec(1, "a", "Older title!!", ts="2026-01-01T00:00:00Z")])
    assert [json.loads(m.value)["source_event_id"] for m in res.messages] == ["e0"]


def test_cache_hit_skips_inference_and_new_version_misses():
    p, tagger, cache = make()
    run(p, [rec(0, "a")])
    res = run(p, [rec(1, "a")])
    assert json.loads(res.messages[0].value)["cached"] is True and len(tagger.calls) == 1
    tagger.version = "2"
    res = run(p, [rec(2, "a")])
    out = json.loads(res.messages[0].value)
    assert out["cached"] is False and out["model_version"] == "2" and len(tagger.calls) == 2


def test_delete_gives_tombstone_and_bad_items_are_isolated():
    p, tagger, _ = make()
    res = run(p, [rec(0, "a", op="delete", title=""), rec(1, "b", "has BAD word"), rec(2, "c", "A good long title"), rec(3, "d", raw=b"{nope")])
    kinds = {m.key.decode(): (m.kind, m.stage) for m in res.messages}
    assert kinds == {"a": ("tombstone", None), "b": ("dead_letter", "inference"), "c": ("tags", None), "d": ("dead_letter", "decode")}
    assert [m.value for m in res.messages if m.kind == "tombstone"] == [None]


def test_key_must_match_product_id():
    p, _, _ = make()
    r = rec(0, "a")
    res = run(p, [Record("in", 0, 0, b"other", r.value)])
    assert res.messages[0].kind == "dead_letter" and "does not match" in json.loads(res.messages[0].value)["error"]
