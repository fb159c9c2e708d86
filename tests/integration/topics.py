"""Reading what a worker published, for the integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tagstream.clients.subscriber import read_topic


def read_until(
    broker_url: str,
    topic: str,
    n: int,
    *,
    want: Callable[[Any], bool] = lambda r: True,
    timeout: float = 90.0,
    distinct: Callable[[Any], object] | None = None,
) -> list:
    """Messages on `topic` accepted by `want`, until n of them arrived (with `distinct`, n different
    `distinct(record)` values: replays count once) or the timeout passed; what arrived by then."""
    got: list = []

    async def go():
        seen = set()
        async for r in read_topic(broker_url, topic, idle_timeout_s=None):
            if want(r):
                got.append(r)
                seen.add(distinct(r) if distinct else len(got))
                if len(seen) >= n:
                    return

    async def bounded():
        try:
            await asyncio.wait_for(go(), timeout)
        except TimeoutError:
            pass

    asyncio.run(bounded())
    return got
