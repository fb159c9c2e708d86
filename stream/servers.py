"""The worker's servers, checked at start before anything is consumed: the broker (its topics created
where TAGSTREAM_CREATE_TOPICS asks), Redis and Triton each answer within TAGSTREAM_STARTUP_TIMEOUT_S,
or the worker does not start and says in one line which server, at which address and setting, and why.

Once started, the worker rides out any of them going away (a stalled batch, cache misses)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from redis.exceptions import AuthenticationError, RedisError, ResponseError

from tagstream.stream.cache import TagCache
from tagstream.stream.errors import ServerUnreachable
from tagstream.stream.retry import Backoff
from tagstream.stream.settings import WorkerSettings
from tagstream.stream.topics import create_topics, ensure_topics
from tagstream.stream.triton_client import TritonInference

log = logging.getLogger(__name__)


async def check_servers(s: WorkerSettings) -> None:
    """Raise `ServerUnreachable` (`BrokerUnreachable` for the broker) naming the first server that does
    not answer within TAGSTREAM_STARTUP_TIMEOUT_S."""
    timeout = s.startup_timeout_s
    if s.create_topics:
        await create_topics(s, timeout_s=timeout)
    else:
        await ensure_topics(s.broker_url, {}, connection=s, timeout_s=timeout)
    redis, triton = await asyncio.gather(_redis_problem(s, timeout), _triton_problem(s, timeout))
    for problem in (redis, triton):
        if problem:
            raise ServerUnreachable(problem)


async def _retry(ask: Callable[[], Awaitable[str | None]], timeout_s: float, what: str) -> str | None:
    """None once `ask()` answers None (the server answered); its last answer (why not) when it still
    does not after `timeout_s`. An answer starting with "!" is permanent (a wrong setting): at once."""
    backoff = Backoff(timeout_s)
    while True:
        problem = await ask()
        if problem is None:
            return None
        if problem.startswith("!"):
            return problem[1:]
        if backoff.expired():
            return f"{problem} (tried for {timeout_s:.0f} s)"
        log.info("%s does not answer yet (%s); retrying", what, problem)
        await backoff.sleep()


def _redis_address(s: WorkerSettings) -> str:
    """The Redis URL without its password."""
    parts = urlsplit(s.redis_url.get_secret_value())
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"


async def _redis_problem(s: WorkerSettings, timeout_s: float) -> str | None:
    where = f"Redis at {_redis_address(s)} (TAGSTREAM_REDIS_URL)"
    cache = TagCache.from_settings(s, timeout_s=max(s.redis_timeout_s, 2.0))

    async def ask() -> str | None:
        try:
            await cache.check()
        except AuthenticationError as e:
            return f"!{where} refused the password: {e} (TAGSTREAM_REDIS_URL or TAGSTREAM_REDIS_PASSWORD_FILE)"
        except ResponseError as e:
            if "NOAUTH" in str(e) or "WRONGPASS" in str(e):
                return f"!{where} wants a password: {e} (TAGSTREAM_REDIS_PASSWORD_FILE)"
            return f"{where}: {e}"
        except (RedisError, OSError) as e:
            return f"cannot reach {where}: {' '.join(str(e).split())[:200]}"
        return None

    try:
        return await _retry(ask, timeout_s, "Redis")
    finally:
        await cache.close()


async def _triton_problem(s: WorkerSettings, timeout_s: float) -> str | None:
    where = f"Triton at {s.triton_url} (TAGSTREAM_TRITON_URL, gRPC)"
    client = TritonInference.from_settings(s)

    async def ask() -> str | None:
        problem = await client.unreachable()
        return None if problem is None else f"cannot reach {where}: {problem}"

    try:
        return await _retry(ask, timeout_s, "Triton")
    finally:
        await client.close()
