"""The Redis cache against a real redis-server: results round-trip with their explanations and the
number of words they were explained for; older, corrupt and missing entries are misses or read as
such; Redis away is a failed lookup, never an error."""

from __future__ import annotations

import asyncio

import pytest
import redis

from tagstream.localstack.process import RedisServer
from tagstream.stream.cache import CachedResult, TagCache, cache_key
from tagstream.stream.events import ExtractedAttribute

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with RedisServer(tmp_path_factory.mktemp("redis")) as s:
        yield s


def _round_trip(url: str, items: dict[str, CachedResult], keys: list[str]):
    async def go():
        cache = TagCache(url, ttl_s=60)
        try:
            ok = await cache.set_many(items)
            return ok, await cache.get_many(keys)
        finally:
            await cache.close()

    return asyncio.run(go())


def test_results_round_trip_with_explanations_and_attributes(server):
    colour = ExtractedAttribute(key="colour", value="blue", start=4, end=8, score=0.9)
    explained = CachedResult([("men", 0.9), ("blue", 0.7)], {"men": [("Men's", 0.4)], "blue": []}, [colour], 3)
    plain = CachedResult([("shirts", 0.8)])
    k1, k2, missing = (cache_key("m", "1", h) for h in ("h1", "h2", "nothing"))
    ok, lookup = _round_trip(server.url, {k1: explained, k2: plain}, [k1, k2, missing])
    assert ok and not lookup.failed
    assert lookup.values == [explained, plain, None]


def test_an_older_explained_entry_reads_as_explained_for_an_unknown_number_of_words(server):
    key, corrupt = cache_key("m", "1", "old"), cache_key("m", "1", "corrupt")
    not_a_number, infinite = cache_key("m", "1", "nan"), cache_key("m", "1", "inf")
    with redis.Redis.from_url(server.url) as r:
        r.set(key, b'{"tags":[["men",0.9]],"why":{"men":[["Men\'s",0.4]]}}')  # written before why_words
        r.set(corrupt, b'{"tags": "not a list of pairs"')
        r.set(not_a_number, b'{"tags":[["men",0.9],["blue",NaN]]}')  # JSON readers accept NaN
        r.set(infinite, b'{"tags":[["men",Infinity]]}')
    _, lookup = _round_trip(server.url, {}, [key, corrupt, not_a_number, infinite])
    assert lookup.values == [CachedResult([("men", 0.9)], {"men": [("Men's", 0.4)]}, None, 0), None, None, None]


def test_redis_away_is_a_failed_lookup_and_a_failed_write(tmp_path):
    down = RedisServer(tmp_path)  # never started: nothing listens on its port
    ok, lookup = _round_trip(down.url, {cache_key("m", "1", "h"): CachedResult([("a", 1.0)])}, ["k1", "k2"])
    assert not ok and lookup.failed and lookup.values == [None, None]
