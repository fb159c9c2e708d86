"""The worker's event-loop choice (TAGSTREAM_EVENT_LOOP)."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest
import uvloop

from tagstream.core.errors import ConfigError
from tagstream.stream import event_loop


@pytest.fixture(autouse=True)
def _default_policy_after():
    yield
    asyncio.set_event_loop_policy(None)


async def _which() -> str:
    return event_loop.running()


def _kind_of_new_loop() -> str:
    return asyncio.run(_which())


def test_auto_takes_uvloop_where_it_is_installed():
    assert event_loop.resolve("auto") == "uvloop"
    assert event_loop.resolve("asyncio") == "asyncio"


def test_install_makes_every_new_loop_of_that_kind():
    assert event_loop.install("auto") == "uvloop"
    assert isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)
    assert _kind_of_new_loop() == "uvloop"
    assert event_loop.install("asyncio") == "asyncio"
    assert _kind_of_new_loop() == "asyncio"


def test_run_uses_the_chosen_loop_and_leaves_the_policy_alone():
    assert event_loop.run(_which(), "uvloop") == "uvloop"
    assert event_loop.run(_which(), "asyncio") == "asyncio"
    assert not isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)


def test_without_uvloop_auto_falls_back_and_uvloop_is_a_clear_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real(name, *a))
    assert event_loop.resolve("auto") == "asyncio"
    with pytest.raises(ConfigError, match="TAGSTREAM_EVENT_LOOP=uvloop but uvloop is not installed") as e:
        event_loop.resolve("uvloop")
    assert "\n" not in str(e.value)
