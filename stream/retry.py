"""Trying a server again with a growing pause until a deadline: 0.5 s, doubling to at most 5 s. The
start-up checks (`servers.py`) and topic creation (`topics.py`) retry this way."""

from __future__ import annotations

import asyncio

FIRST_PAUSE_S = 0.5
MAX_PAUSE_S = 5.0


class Backoff:
    """The pauses of one retry loop that gives up `timeout_s` after it was made."""

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + timeout_s
        self._pause = FIRST_PAUSE_S

    def expired(self) -> bool:
        return self._loop.time() >= self._deadline

    def next_pause(self) -> float:
        """The next pause, never past the deadline."""
        return max(0.0, min(self._pause, self._deadline - self._loop.time()))

    async def sleep(self) -> None:
        await asyncio.sleep(self.next_pause())
        self._pause = min(self._pause * 2, MAX_PAUSE_S)
