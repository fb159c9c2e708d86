"""Redis cache of tagging results, keyed by model and content: tag:{model}:{version}:{content_hash}.

A new model version never reads old-version entries (the version is in the key). Redis being down is
a cache miss, never an error: it is logged and counted, and the stream carries on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


def cache_key(model_name: str, model_version: str, content_hash: str) -> str:
    return f"tag:{model_name}:{model_version}:{content_hash}"


@dataclass(frozen=True)
class CachedTags:
    tags: list[tuple[str, float]]


class TagCache:
    def __init__(self, url: str, ttl_s: int, timeout_s: float = 0.5, on_error=None):
        self.ttl_s = ttl_s
        self._redis = aioredis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=False)
        self._on_error = on_error or (lambda op: None)

    async def close(self) -> None:
        await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def get_many(self, keys: Sequence[str]) -> list[CachedTags | None]:
        """One MGET for all keys; None for a miss, a corrupt entry, or Redis unavailable."""
        if not keys:
            return []
        try:
            raw = await self._redis.mget(list(keys))
        except (RedisError, OSError) as e:
            log.warning("redis MGET failed, treating %d keys as misses: %s", len(keys), e)
            self._on_error("get")
            return [None] * len(keys)
        out: list[CachedTags | None] = []
        for value in raw:
            if value is None:
                out.append(None)
                continue
            try:
                obj = json.loads(value)
                out.append(CachedTags([(str(t), float(s)) for t, s in obj["tags"]]))
            except (ValueError, KeyError, TypeError):
                out.append(None)
        return out

    async def set_many(self, items: dict[str, list[tuple[str, float]]]) -> None:
        """Pipelined SET with TTL; failures are logged and counted, not raised."""
        if not items:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, tags in items.items():
                    pipe.set(key, json.dumps({"tags": tags}, separators=(",", ":")), ex=self.ttl_s)
                await pipe.execute()
        except (RedisError, OSError) as e:
            log.warning("redis SET of %d keys failed: %s", len(items), e)
            self._on_error("set")
