"""A batch whose dependency is away is paused and retried until it is done, never acked meanwhile:
the pause starts at TAGSTREAM_TRITON_PAUSE_S and doubles up to `MAX_PAUSE_S`; a stop ends the wait at
once and abandons the batch unacked (the next worker replays it)."""

from __future__ import annotations

import asyncio
import logging

from tagstream.stream.errors import Retryable
from tagstream.stream.health import WorkerState
from tagstream.stream.metrics import WorkerMetrics
from tagstream.stream.pipeline import BatchProcessor
from tagstream.stream.records import Record
from tagstream.stream.results import BatchOutcome

log = logging.getLogger(__name__)

#: The longest pause between two tries of a batch.
MAX_PAUSE_S = 30.0


async def process_until_done(
    processor: BatchProcessor,
    records: list[Record],
    ctx: dict[str, object],
    *,
    first_pause_s: float,
    state: WorkerState,
    metrics: WorkerMetrics,
    stop_requested: asyncio.Event,
) -> BatchOutcome | None:
    """The batch's outcome; None when the worker stops while a dependency is away."""
    pause = first_pause_s
    while True:
        try:
            outcome = await processor.process(records)
        except Retryable as e:
            state.stalled = True
            metrics.stalled.set(1)
            metrics.inference_failures.labels(type(e).__name__).inc()
            metrics.batch_retries.inc()
            if state.stopping:
                log.warning("stopping while a dependency is away; the batch is abandoned unacked", extra=ctx)
                return None
            log.warning(
                "dependency unavailable (%s); pausing %.1f s before retrying the batch: %s",
                type(e).__name__,
                pause,
                e,
                extra=ctx,
            )
            try:
                await asyncio.wait_for(stop_requested.wait(), pause)
            except TimeoutError:
                pass
            pause = min(pause * 2, MAX_PAUSE_S)
            continue
        state.stalled = False
        metrics.stalled.set(0)
        return outcome
