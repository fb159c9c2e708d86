"""Polling until something is true, with a deadline (the one poll loop of the local stack)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from tagstream.localstack.errors import StackError


def wait_until(
    condition: Callable[[], object],
    timeout: float,
    *,
    what: str,
    interval: float = 0.2,
    give_up: Callable[[], str | None] = lambda: None,
) -> None:
    """Poll `condition` until it returns something true; raise `StackError` naming `what` after
    `timeout` seconds, or at once when `give_up` returns a reason (e.g. the process exited)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        reason = give_up()
        if reason:
            raise StackError(f"{what}: {reason}")
        if time.monotonic() >= deadline:
            raise StackError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
