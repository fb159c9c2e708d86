"""Redis cache of tagging results, keyed by model and content: tag:{model}:{version}:{content_hash}.

A new model version never reads old-version entries (the version is in the key). Redis being away is
a cache miss, never an error: each call says whether it failed, and the caller counts it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NotRequired

import redis.asyncio as aioredis
from pydantic import FiniteFloat, TypeAdapter, ValidationError
from redis.exceptions import RedisError
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from tagstream.stream.events import ExtractedAttribute

if TYPE_CHECKING:
    from tagstream.stream.settings import WorkerSettings

log = logging.getLogger(__name__)

TagList = list[tuple[str, float]]
Why = dict[str, list[tuple[str, float]]]  # tag -> its top words and their weights


@dataclass(frozen=True, slots=True)
class CachedResult:
    tags: TagList
    why: Why | None = None
    attributes: list[ExtractedAttribute] | None = None  # extracted by a version that extracts
    why_words: int = 0  # the top words per tag `why` was computed for (0: unknown, an older entry)


def cache_key(model_name: str, model_version: str, content_hash: str) -> str:
    return f"tag:{model_name}:{model_version}:{content_hash}"


@dataclass(frozen=True, slots=True)
class Lookup:
    """Per key, the cached tags or None (a miss, a corrupt entry); `failed` when Redis was away."""

    values: list[CachedResult | None]
    failed: bool = False


class _Entry(TypedDict):
    """A cached entry as stored (JSON): tags and explanations as [name, score] pairs."""

    tags: list[tuple[str, FiniteFloat]]
    why: NotRequired[dict[str, list[tuple[str, FiniteFloat]]] | None]
    why_words: NotRequired[int | None]
    attributes: NotRequired[list[ExtractedAttribute] | None]


_ENTRY = TypeAdapter(_Entry)


def _parse(raw: bytes | None) -> CachedResult | None:
    """A cached entry, or None for a miss and for an entry that is not one (corrupt, of another
    layout, a score that is not a finite number): parsed and checked in one pass of pydantic-core."""
    if raw is None:
        return None
    try:
        entry = _ENTRY.validate_json(raw)
    except ValidationError:
        return None
    why = entry.get("why")
    return CachedResult(
        entry["tags"], why, entry.get("attributes"), (entry.get("why_words") or 0) if why is not None else 0
    )


class TagCache:
    def __init__(self, url: str, ttl_s: int, timeout_s: float = 0.5, password: str | None = None, **tls: str):
        """`url` is redis:// or rediss:// (TLS; `tls` holds redis-py's ssl_* arguments); `password`, when
        given, is for a URL that holds none (it needs no URL encoding)."""
        self.ttl_s = ttl_s
        auth = {"password": password} if password is not None else {}
        self._redis = aioredis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=False, **auth, **tls
        )

    @classmethod
    def from_settings(cls, s: WorkerSettings, timeout_s: float | None = None) -> TagCache:
        """The cache of the worker's settings: TAGSTREAM_REDIS_URL, its password, TLS files, TTL and
        timeout (`timeout_s` overrides the timeout, e.g. for the start-up check)."""
        return cls(
            s.redis_url.get_secret_value(),
            s.cache_ttl_s,
            s.redis_timeout_s if timeout_s is None else timeout_s,
            password=s.redis_password(),
            **s.redis_tls_kwargs(),
        )

    async def close(self) -> None:
        await self._redis.aclose()

    async def check(self) -> None:
        """A PING that raises what redis-py raised (for the start-up check, which says why)."""
        await self._redis.ping()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def get_many(self, keys: Sequence[str]) -> Lookup:
        """One MGET for all keys."""
        if not keys:
            return Lookup([])
        try:
            raw = await self._redis.mget(list(keys))
        except (RedisError, OSError) as e:
            log.warning("redis MGET failed, treating %d keys as misses: %s", len(keys), e)
            return Lookup([None] * len(keys), failed=True)
        return Lookup([_parse(v.encode() if isinstance(v, str) else v) for v in raw])

    async def set_many(self, items: Mapping[str, CachedResult]) -> bool:
        """Pipelined SET with TTL; False (logged) when Redis was away."""
        if not items:
            return True
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, result in items.items():
                    value: dict[str, object] = {"tags": result.tags}
                    if result.why is not None:
                        value["why"] = result.why
                        value["why_words"] = result.why_words
                    if result.attributes is not None:
                        value["attributes"] = [a.model_dump() for a in result.attributes]
                    pipe.set(key, json.dumps(value, separators=(",", ":")), ex=self.ttl_s)
                await pipe.execute()
        except (RedisError, OSError) as e:
            log.warning("redis SET of %d keys failed: %s", len(items), e)
            return False
        return True
