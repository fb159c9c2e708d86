"""Which asyncio event loop the worker runs on.

The worker is one event-loop thread (plus Faust's consumer thread), and on the cache path most of its
CPU is per-message work in Faust, aiokafka and asyncio. uvloop runs the loop itself in C: in the
stream benchmark (docs/performance.md, point d_asyncio, alternating order) it made the cache-hit
path about 1.1x faster (d_asyncio/d 0.89-0.93 in three runs; faster in 8 of 9 pairs). `auto`, the
default, takes uvloop where it is installed (the base install on Linux and macOS) and asyncio's own
loop elsewhere.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

from tagstream.core.errors import ConfigError

EventLoopKind = Literal["uvloop", "asyncio"]
EventLoopChoice = Literal["auto", "uvloop", "asyncio"]
T = TypeVar("T")


def available(kind: EventLoopKind) -> bool:
    return kind == "asyncio" or importlib.util.find_spec(kind) is not None


def resolve(choice: EventLoopChoice) -> EventLoopKind:
    """The loop that `choice` means on this machine; `uvloop` when it is not installed is an error."""
    if choice == "auto":
        return "uvloop" if available("uvloop") else "asyncio"
    if choice == "uvloop" and not available("uvloop"):
        raise ConfigError(
            "TAGSTREAM_EVENT_LOOP=uvloop but uvloop is not installed (pip install uvloop, or use asyncio)"
        )
    return choice


def install(choice: EventLoopChoice) -> EventLoopKind:
    """Make the loops this process creates from now on (Faust's, its consumer thread's, asyncio.run's)
    the chosen kind; returns which one that is."""
    kind = resolve(choice)
    if kind == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    else:
        asyncio.set_event_loop_policy(None)  # asyncio's default policy
    return kind


def run(main: Coroutine[Any, Any, T], choice: EventLoopChoice = "auto") -> T:
    """`asyncio.run(main)` on a new loop of the chosen kind, leaving the process's policy alone."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if resolve(choice) == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def running() -> EventLoopKind:
    """The kind of the loop running in this thread (call it from a coroutine)."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"
