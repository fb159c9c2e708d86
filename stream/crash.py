"""How the worker ends when it cannot go on (crash-only): it commits what earlier batches acked, never
the batch in hand, and exits at once, so that Faust can neither restart the agent over a half-handled
batch nor commit past it. And the watchdog that bounds a stop."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Sequence

import faust

from tagstream.stream.errors import WorkerError
from tagstream.stream.records import Record, batch_log_context

log = logging.getLogger(__name__)

#: Exit code after a failure that is not one event's (EX_SOFTWARE): nothing of the batch committed.
EXIT_CRASH = 70
#: Exit code when a stop did not finish within its bound (the watchdog).
EXIT_STOP_TIMEOUT = 75


async def exit_crashed(app: faust.App, exc: BaseException, events: Sequence[faust.EventT]) -> None:
    """Log why, commit what earlier batches acked (best effort), and exit with `EXIT_CRASH`."""
    records = [Record(e.message.topic, e.message.partition, e.message.offset, None, None) for e in events]
    log.critical(
        "stopping the worker on %s: %s; this batch is not committed and will be replayed",
        type(exc).__name__,
        exc,
        exc_info=not isinstance(exc, WorkerError),
        extra=batch_log_context(records) if records else {},
    )
    try:
        await asyncio.wait_for(app.consumer.commit(), 5.0)
    except Exception as e:  # noqa: BLE001 - best effort: uncommitted batches are replayed
        log.warning("could not commit earlier batches before exiting: %r", e)
    logging.shutdown()
    os._exit(EXIT_CRASH)


class StopWatchdog:
    """Exits with `EXIT_STOP_TIMEOUT` if a stop takes longer than `bound_s` (a thread: it fires even
    when the event loop is blocked)."""

    def __init__(self, bound_s: float):
        self.bound_s = bound_s
        self._timer = threading.Timer(bound_s, self._fire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def join(self, timeout: float) -> None:
        self._timer.join(timeout)

    def is_alive(self) -> bool:
        return self._timer.is_alive()

    def _fire(self) -> None:
        log.error("the stop did not finish within %.0f s; exiting now (nothing unfinished was committed)", self.bound_s)
        logging.shutdown()
        os._exit(EXIT_STOP_TIMEOUT)
