"""BatchProcessor's steps with in-memory stand-ins for the cache and the model (unit level; the
integration tests run the same code against real Redis, Triton and the broker)."""

import asyncio
import json

import numpy as np
import pytest

from tagstream.stream.cache import CachedResult, Lookup
from tagstream.stream.errors import BadInput, ModelUnavailable
from tagstream.stream.events import EventLimits
from tagstream.stream.pipeline import BatchProcessor
from tagstream.stream.records import Record
from tagstream.stream.results import Deleted, Rejected, Tagged
from tagstream.stream.triton_client import ModelInfo, ScoredBatch


class FakeCache:
    def __init__(self, *, down: bool = False):
        self.data: dict = {}
        self.down = down

    async def get_many(self, keys):
        if self.down:
            return Lookup([None] * len(keys), failed=True)
        return Lookup([self.data.get(k) for k in keys])  # CachedResult values, as set_many stored them

    async def set_many(self, items):
        if self.down:
            return False
        self.data.update(items)
        return True


class FakeInference:
    """Scores: tag 'long' if the text has more than 10 characters; rejects texts containing BAD;
    unavailable while `away`."""

    def __init__(self):
        self.calls = []
        self.version = "1"
        self.away = False

    async def serving_version(self):
        if self.away:
            raise ModelUnavailable("triton is away")
        return self.version

    async def infer(self, texts):
        self.calls.append(list(texts))
        if any("BAD" in t for t in texts):
            raise BadInput("bad input: nope")
        scores = np.array([[0.9 if len(t) > 10 else 0.1, 0.6] for t in texts], dtype=np.float32)
        return ScoredBatch(
            scores, ModelInfo("m", self.version, ("long", "any"), np.array([0.5, 0.5], dtype=np.float32))
        )


def rec(offset, pid, title="A fairly long title", op="upsert", ts="2026-01-01T00:00:00Z", raw=None, key=None):
    body = {"event_id": f"e{offset}", "product_id": pid, "op": op, "title": title, "updated_at": ts}
    value = raw if raw is not None else json.dumps(body).encode()
    return Record("in", 0, offset, pid.encode() if key is None else key, value, 1.0)


def make(**kw):
    tagger, cache = FakeInference(), kw.pop("cache", FakeCache())
    p = BatchProcessor(inference=tagger, cache=cache, model_name="m", limits=EventLimits(max_event_bytes=10_000, **kw))
    return p, tagger, cache


def run(p, records):
    return asyncio.run(p.process(records))


def by_pid(outcome):
    out = {}
    for r in outcome.results:
        if isinstance(r, Tagged):
            out[r.event.product_id] = r
        elif isinstance(r, Deleted):
            out[r.product_id] = r
        else:
            out[r.record.key.decode(errors="replace")] = r
    return out


def test_latest_event_per_product_wins_and_identical_texts_infer_once():
    p, tagger, _ = make()
    out = run(
        p,
        [
            rec(0, "a", "Old title here"),
            rec(1, "a", "New title here"),
            rec(2, "b", "New title here"),
            rec(3, "c", "short"),
        ],
    )
    res = by_pid(out)
    assert set(res) == {"a", "b", "c"}
    assert res["a"].event.source_event_id == "e1" and res["a"].event.superseded_event_ids == ["e0"]
    assert tagger.calls == [["New title here", "short"]]  # deduplicated by content hash
    assert [t.tag for t in res["a"].event.tags] == ["long", "any"]
    assert [t.tag for t in res["c"].event.tags] == ["any"]
    assert out.stats.events == 4 and out.stats.superseded == 1 and out.stats.inferred == 2


def test_older_updated_at_does_not_win_and_mixed_time_zones_compare():
    p, _, _ = make()
    out = run(
        p,
        [
            rec(0, "a", "Newer title!!", ts="2026-02-01T00:00:00Z"),
            rec(1, "a", "Older title!!", ts="2026-01-01T00:00:00"),
        ],
    )
    assert [r.event.source_event_id for r in out.results] == ["e0"]
    assert out.results[0].event.superseded_event_ids == ["e1"]


def test_cache_hit_skips_inference_and_new_version_misses():
    p, tagger, _ = make()
    run(p, [rec(0, "a")])
    out = run(p, [rec(1, "a")])
    assert out.results[0].event.cached is True and len(tagger.calls) == 1 and out.stats.cache_hits == 1
    tagger.version = "2"
    out = run(p, [rec(2, "a")])
    assert out.results[0].event.cached is False and out.results[0].event.model_version == "2" and len(tagger.calls) == 2


def test_a_result_that_cannot_be_serialised_fails_its_own_event_alone():
    p, tagger, cache = make()
    run(p, [rec(0, "a"), rec(1, "b", title="Another long title")])
    key_a = next(k for k, v in cache.data.items() if v is not None and k.endswith(p_hash(p, rec(0, "a"))))
    cache.data[key_a] = CachedResult([(5, 0.9)])  # a tag of the wrong type (no cache parse makes one)
    out = run(p, [rec(2, "a"), rec(3, "b", title="Another long title")])
    rejected = [r for r in out.results if isinstance(r, Rejected)]
    assert [r.record.offset for r in rejected] == [2] and rejected[0].stage == "publish"
    assert "not serialisable" in rejected[0].reason
    assert [r.event.source_event_id for r in out.results if isinstance(r, Tagged)] == ["e3"]


def p_hash(p, record):
    return p._decode_one(record).content_hash


def test_redis_away_is_a_counted_miss():
    p, tagger, _ = make(cache=FakeCache(down=True))
    out = run(p, [rec(0, "a"), rec(1, "b")])
    assert all(isinstance(r, Tagged) and not r.event.cached for r in out.results)
    assert out.stats.cache_errors == {"get": 1, "set": 1} and out.stats.cache_misses == 2


def test_delete_gives_tombstone_and_bad_items_are_isolated():
    p, tagger, _ = make()
    out = run(
        p,
        [
            rec(0, "a", op="delete", title=""),
            rec(1, "b", "has BAD word"),
            rec(2, "c", "A good long title"),
            rec(3, "d", raw=b"{nope"),
        ],
    )
    res = by_pid(out)
    assert isinstance(res["a"], Deleted)
    assert isinstance(res["b"], Rejected) and res["b"].stage == "inference" and "BadInput" in res["b"].reason
    assert isinstance(res["c"], Tagged)
    assert isinstance(res["d"], Rejected) and res["d"].stage == "decode"
    assert out.stats.inference_failures["BadInput"] == 2  # the batch, then the bad text alone


@pytest.mark.parametrize(
    "raw,stage,reason",
    [
        (None, "decode", "empty value"),
        (b"{nope", "decode", "invalid JSON"),
        (b"\xff\xfe{}", "decode", "invalid JSON"),
        (b"[1, 2]", "decode", "JSON list"),
        (b'{"event_id": "e", "product_id": "x", "n": ' + b"9" * 5000 + b"}", "decode", "unreadable JSON"),
        (b"[" * 4_900 + b"]" * 4_900, "decode", "unreadable JSON"),  # nesting deeper than the parser goes
        (
            b'{"event_id": "e", "product_id": "x", "title": "\\ud800", "updated_at": "2026-01-01T00:00:00Z"}',
            "validate",
            "surrogate",
        ),
        (
            b'{"event_id": "e", "product_id": "x", "title": "\\u200b", "updated_at": "2026-01-01T00:00:00Z"}',
            "validate",
            "visible characters",
        ),
        (b"x" * 10_001, "decode", "event too large: 10001 > 10000"),
    ],
)
def test_odd_events_are_dead_lettered_alone_and_their_neighbours_tagged(raw, stage, reason):
    p, _, _ = make()
    out = run(
        p,
        [rec(0, "good1"), rec(1, "x", raw=raw) if raw is not None else Record("in", 0, 1, b"x", None), rec(2, "good2")],
    )
    res = by_pid(out)
    assert isinstance(res["good1"], Tagged) and isinstance(res["good2"], Tagged)
    assert isinstance(res["x"], Rejected) and res["x"].stage == stage and reason in res["x"].reason


def test_event_at_the_size_limit_is_accepted():
    p, _, _ = make()
    body = json.dumps(
        {
            "event_id": "e",
            "product_id": "a",
            "title": "A fairly long title",
            "updated_at": "2026-01-01T00:00:00Z",
            "pad": "",
        }
    ).encode()
    padded = body[:-2] + b"x" * (10_000 - len(body)) + body[-2:]
    assert len(padded) == 10_000
    assert isinstance(run(p, [rec(0, "a", raw=padded)]).results[0], Tagged)


def test_key_must_match_product_id():
    p, _, _ = make()
    out = run(p, [rec(0, "a", key=b"other")])
    assert isinstance(out.results[0], Rejected) and "does not match" in out.results[0].reason


def test_triton_away_raises_retryable_and_produces_nothing():
    p, tagger, _ = make()
    tagger.away = True
    with pytest.raises(ModelUnavailable):
        run(p, [rec(0, "a")])
    tagger.away = False
    assert isinstance(run(p, [rec(0, "a")]).results[0], Tagged)


def test_every_input_event_is_accounted_for():
    """Each event ends as a result, or is named as superseded by the result of its product."""
    p, _, _ = make()
    records = [rec(i, f"p{i % 5}", f"Title number {i} long", ts=f"2026-01-01T00:00:{i:02d}Z") for i in range(20)]
    records += [rec(20, "bad", raw=b"{"), rec(21, "p0", op="delete", title="", ts="2026-01-01T00:01:00Z")]
    out = run(p, records)
    covered = set()
    for r in out.results:
        if isinstance(r, Tagged):
            covered |= {r.event.source_event_id, *r.event.superseded_event_ids}
        elif isinstance(r, Deleted):
            covered |= {r.event_id, *r.superseded_event_ids}
        else:
            covered.add(f"e{r.record.offset}")
    assert covered == {f"e{i}" for i in range(22)}


def test_explanations_name_the_words_behind_each_tag_and_are_cached():
    """FakeInference tags 'long' for texts over 10 characters: leaving out the long word drops it."""
    tagger, cache = FakeInference(), FakeCache()
    p = BatchProcessor(inference=tagger, cache=cache, model_name="m", limits=EventLimits(), explain_top_words=2)
    out = run(p, [rec(0, "a", "Supercalifragilistic x")])
    ev = out.results[0].event
    assert [t.tag for t in ev.tags] == ["long", "any"]
    assert [w.word for w in ev.explanations["long"]] == ["Supercalifragilistic"]
    assert ev.explanations["any"] == []  # no single word carries it
    assert tagger.calls[0] == ["Supercalifragilistic x", "x", "Supercalifragilistic"]  # the text, then one per word
    assert out.stats.texts_sent == 3 and out.stats.inferred == 1
    again = run(p, [rec(1, "a", "Supercalifragilistic x")])
    assert again.results[0].event.cached and again.results[0].event.explanations == ev.explanations
    plain = BatchProcessor(inference=tagger, cache=FakeCache(), model_name="m", limits=EventLimits())
    assert run(plain, [rec(2, "b", "Supercalifragilistic x")]).results[0].event.explanations is None


def test_a_cached_result_without_explanations_is_a_miss_when_they_are_asked_for():
    tagger, cache = FakeInference(), FakeCache()
    run(BatchProcessor(inference=tagger, cache=cache, model_name="m", limits=EventLimits()), [rec(0, "a")])
    explaining = BatchProcessor(
        inference=tagger, cache=cache, model_name="m", limits=EventLimits(), explain_top_words=1
    )
    out = run(explaining, [rec(1, "a")])
    assert not out.results[0].event.cached and out.results[0].event.explanations is not None


def test_a_cached_result_is_served_with_the_explanations_this_worker_asks_for():
    """Entries cached by a worker that explains more (or at all) must not change what another worker
    publishes: none without explanations, at most its own number of words per tag with them."""
    tagger, cache = FakeInference(), FakeCache()
    title = "Abcdefgh xy"  # 11 characters: leaving out either word makes it short, so both carry "long"

    def tag_event(offset, explain):
        p = BatchProcessor(
            inference=tagger, cache=cache, model_name="m", limits=EventLimits(), explain_top_words=explain
        )
        return run(p, [rec(offset, "a", title)]).results[0].event

    first = tag_event(0, explain=2)
    assert not first.cached and len(first.explanations["long"]) == 2
    plain = tag_event(1, explain=0)
    assert plain.cached and plain.explanations is None
    one = tag_event(2, explain=1)
    assert one.cached and one.explanations["long"] == first.explanations["long"][:1]
    calls = len(tagger.calls)
    three = tag_event(3, explain=3)  # explained for 2 words only: scored again, and the entry replaced
    assert not three.cached and len(tagger.calls) == calls + 1
    assert next(iter(cache.data.values())).why_words == 3
    assert tag_event(4, explain=2).cached


def test_one_pass_decoding_gives_what_step_by_step_decoding_gives(monkeypatch):
    """Events are parsed and validated in one pass of pydantic-core, falling back to json.loads +
    model_validate when that fails: every malformed and unusual case of the reliability suite
    (BOM, lone surrogates, huge numbers, NaN, nesting, wrong keys, ...) must get the same outcome
    as with the step-by-step path alone."""
    from tagstream.stream.events import ProductUpdate
    from tests.reliability.cases import malformed, unusual_valid

    p = BatchProcessor(inference=FakeInference(), cache=FakeCache(), model_name="m", limits=EventLimits())
    cases = malformed() + unusual_valid()
    records = [Record("in", 0, i, c.key, c.value) for i, c in enumerate(cases)]
    one_pass = [p._decode_one(r) for r in records]
    fast_path_used = sum(1 for r in records if r.value is not None and _parses_in_one_pass(r.value))

    original = ProductUpdate.model_validate_json

    def never_in_one_pass(*args, **kwargs):
        return original(b"not json")  # raises ValidationError: every event takes the step-by-step path

    monkeypatch.setattr(ProductUpdate, "model_validate_json", never_in_one_pass)
    step_by_step = [p._decode_one(r) for r in records]
    assert len(cases) >= 60 and fast_path_used >= 15  # both paths are exercised
    for case, a, b in zip(cases, one_pass, step_by_step, strict=True):
        if isinstance(b, Rejected):
            assert isinstance(a, Rejected) and (a.stage, a.reason) == (b.stage, b.reason), case.label
        else:
            assert not isinstance(a, Rejected) and (a.event, a.text, a.content_hash) == (
                b.event,
                b.text,
                b.content_hash,
            ), case.label


def _parses_in_one_pass(value: bytes) -> bool:
    from pydantic import ValidationError

    from tagstream.stream.events import ProductUpdate

    try:
        ProductUpdate.model_validate_json(value, context={"limits": EventLimits()})
    except ValidationError:
        return False
    return True
