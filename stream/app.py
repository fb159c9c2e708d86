"""The worker: one Faust agent (concurrency=1) that takes micro-batches of product updates with
`noack_take(max, within)`, runs each through the `BatchProcessor`, publishes the results, waits for
the broker's acknowledgements, and only then acks the batch's input events (so their offsets can be
committed). Nothing is acked any other way:

- a dependency away: the batch is paused and retried (`batch_retry`), nothing is acked;
- SIGTERM: the batch in flight may finish within `shutdown_grace_s`; otherwise it is abandoned
  unacked and the next worker replays it. A watchdog bounds the whole stop (`crash.StopWatchdog`);
- too many dead letters (`dead_letter_rate`), checked before the batch is published, or any other
  failure: crash-only (`crash.exit_crashed`), nothing of the batch committed.

The other jobs live next door: the Faust app (`faust_app`), the servers checked at start (`servers`),
lag (`lag`), the web pages (`web`), health (`health`) and metrics (`metrics`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

import faust

from tagstream import __version__
from tagstream.stream import event_loop
from tagstream.stream.batch_retry import process_until_done
from tagstream.stream.crash import StopWatchdog, exit_crashed
from tagstream.stream.dead_letter_rate import DeadLetterRate
from tagstream.stream.faust_app import faust_app, raw_topic, started_producer
from tagstream.stream.health import WorkerState
from tagstream.stream.lag import ConsumerLag
from tagstream.stream.metrics import WorkerMetrics
from tagstream.stream.publisher import Headers, PublishReport
from tagstream.stream.records import Record, batch_log_context
from tagstream.stream.results import BatchOutcome
from tagstream.stream.runtime import Runtime
from tagstream.stream.settings import WorkerSettings
from tagstream.stream.web import add_pages

log = logging.getLogger(__name__)

#: Added to `shutdown_grace_s` for the rest of a stop (commit, producer flush, closing clients).
STOP_MARGIN_S = 20.0


@dataclass
class _InFlight:
    """A taken micro-batch: its events (to ack), records, log context and the task processing it."""

    events: Sequence[faust.EventT]
    records: list[Record]
    ctx: dict[str, object]
    task: asyncio.Task[BatchOutcome | None]


def _drained(queue: asyncio.Queue[_InFlight]) -> list[_InFlight]:
    """Everything in the queue, taken out."""
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


def _to_record(e: faust.EventT) -> Record:
    m = e.message
    return Record(m.topic, m.partition, m.offset, m.key, m.value, m.timestamp)


class _App(faust.App):
    """A faust.App whose start opens the worker's clients and whose stop first lets the batch in
    flight finish (or abandons it), then closes them after Faust's own stop."""

    def __init__(self, *args: Any, worker: TaggerWorker, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._worker = worker

    async def on_start(self) -> None:
        await super().on_start()
        await self._worker.open()

    async def on_stop(self) -> None:
        await self._worker.drain()
        await super().on_stop()
        await self._worker.close()


class TaggerWorker:
    def __init__(self, settings: WorkerSettings):
        self.settings = s = settings
        self.metrics = WorkerMetrics()
        self.state = WorkerState()
        self.lag = ConsumerLag(self.metrics.consumer_lag, self.metrics.partition_idle)
        self.dead_letter_rate = DeadLetterRate(s.dlq_max_rate, s.dlq_window)
        self.runtime: Runtime | None = None
        self._stop_requested = asyncio.Event()
        self._in_flight = 0  # batches taken and not yet finished
        self._finisher: asyncio.Task[None] | None = None  # publishes and acks finished batches (see _agent)
        self._watchdog: StopWatchdog | None = None  # bounds the stop (see drain)
        self.app = faust_app(
            s,
            s.app_id,
            _App,
            worker=self,
            web_enabled=True,
            web_bind=s.web_host,
            web_host=s.web_host,
            web_port=s.web_port,
        )
        self.source = raw_topic(self.app, s.input_topic)
        self.app.agent(self.source, name="tag_products", concurrency=1)(self._agent)
        self.app.timer(s.lag_poll_s, name="poll_end_offsets")(self._poll_end_offsets)
        add_pages(self.app, liveness=self.state.liveness, readiness=self._readiness, metrics=self._metrics_text)

    # --- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        s = self.settings
        loop = event_loop.running()
        self.metrics.worker_info.info({"version": __version__, "event_loop": loop})
        log.info("tagstream %s worker on the %s event loop", __version__, loop)
        self.runtime = Runtime.open(s, self._send)

    async def drain(self) -> None:
        """Stop taking batches; give the one in flight `shutdown_grace_s` to finish."""
        if self.state.stopping:
            return
        self.state.stopping = True
        self._stop_requested.set()
        self._watchdog = StopWatchdog(self.settings.shutdown_grace_s + STOP_MARGIN_S)
        self._watchdog.start()
        try:
            await asyncio.wait_for(self.state.idle.wait(), self.settings.shutdown_grace_s)
        except TimeoutError:
            log.warning(
                "stopping: the batch in flight did not finish within %.0f s; it is abandoned unacked "
                "and will be replayed",
                self.settings.shutdown_grace_s,
            )

    async def close(self) -> None:
        """After Faust's own stop: end the finisher (by now drain() let its batches finish or abandoned
        them), close the clients and disarm the stop watchdog. A task left running here would hold the
        process: mode waits a second for leftover tasks before it cancels them."""
        if self._finisher is not None and not self._finisher.done():
            self._finisher.cancel()
            await asyncio.wait([self._finisher])
        if self.runtime is not None:
            await self.runtime.close()
        if self._watchdog is not None:
            self._watchdog.cancel()

    async def _send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> Awaitable[Any]:
        # Straight to the app's producer (the same aiokafka producer and partitioner): `Topic.send`
        # adds a FutureMessage, sensor calls and callbacks per message, and awaits between messages
        # so that each became its own produce request. Measured on the forward-only app: 3x events/s.
        return await (await started_producer(self.app)).send(topic, key, value, None, None, headers)

    async def _crash(self, exc: BaseException, events: Sequence[faust.EventT]) -> None:
        self.state.stopping = True
        await exit_crashed(self.app, exc, events)

    # --- the agent -------------------------------------------------------------------------
    async def _agent(self, stream: faust.StreamT) -> None:
        """Take micro-batches and start processing each at once, up to `batches_in_flight` at a time
        (Triton works on one while the next is assembled); a finisher publishes and acks them strictly
        in the order they were taken."""
        self.state.consuming = True
        slots = asyncio.Semaphore(self.settings.batches_in_flight)
        queue: asyncio.Queue[_InFlight] = asyncio.Queue()
        self._finisher = finisher = asyncio.create_task(self._finish_in_order(stream, queue, slots))
        events: Sequence[faust.EventT] = ()
        try:
            # faust's StreamT type lacks noack_take; Stream has it (yields events, acks none)
            take = stream.noack_take  # type: ignore[attr-defined]
            async for events in take(self.settings.batch_max, within=self.settings.batch_wait_s):
                await slots.acquire()  # back-pressure: at most batches_in_flight unfinished
                if finisher.done():
                    finisher.result()  # the finisher stopped the worker; never get here without it
                if self.state.stopping:
                    slots.release()
                    return  # not processed, not acked: the next worker replays these
                records = [_to_record(e) for e in events]
                ctx = batch_log_context(records)
                self.metrics.events_in.inc(len(records))
                self._in_flight += 1
                self.state.idle.clear()
                queue.put_nowait(_InFlight(events, records, ctx, asyncio.create_task(self._process(records, ctx))))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - crash-only: see the module docstring
            await self._crash(e, events)
        finally:
            self.state.consuming = False

    async def _process(self, records: list[Record], ctx: dict[str, object]) -> BatchOutcome | None:
        assert self.runtime is not None
        return await process_until_done(
            self.runtime.processor,
            records,
            ctx,
            first_pause_s=self.settings.triton_pause_s,
            state=self.state,
            metrics=self.metrics,
            stop_requested=self._stop_requested,
        )

    async def _finish_in_order(
        self, stream: faust.StreamT, queue: asyncio.Queue[_InFlight], slots: asyncio.Semaphore
    ) -> None:
        try:
            await self._finish_batches(stream, queue, slots)
        except asyncio.CancelledError:
            for left in _drained(queue):  # taken after the batch in hand; abandoned unacked, like it
                left.task.cancel()
            raise

    async def _finish_batches(
        self, stream: faust.StreamT, queue: asyncio.Queue[_InFlight], slots: asyncio.Semaphore
    ) -> None:
        abandoned = False
        while True:
            batch = await queue.get()
            try:
                outcome = await batch.task
                if outcome is None or abandoned:  # stopping: this and every later batch stay unacked
                    abandoned = True
                    continue
                assert self.runtime is not None
                self.dead_letter_rate.admit(len(batch.records), outcome.results)  # before anything is published
                report = await self.runtime.publisher.publish(outcome.results)
                for e in batch.events:
                    await stream.ack(e)
                self._record(batch.records, outcome, report, batch.ctx)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - crash-only: see the module docstring
                await self._crash(e, batch.events)
            finally:
                slots.release()
                self._in_flight -= 1
                if self._in_flight == 0:
                    self.state.idle.set()

    def _record(
        self, records: list[Record], outcome: BatchOutcome, report: PublishReport, ctx: dict[str, object]
    ) -> None:
        self.metrics.observe_publish(outcome.stats, report)
        self.state.last_batch_at = time.monotonic()
        self.lag.finished(records)
        self.lag.refresh(self.app.consumer)
        st = outcome.stats
        log.info(
            "batch done",
            extra={
                **ctx,
                "tag_events": sum(report.tag_events.values()),
                "dead_letters": sum(report.dead_letters.values()),
                "inferred": st.inferred,
                "cache_hits": st.cache_hits,
                "superseded": st.superseded,
            },
        )

    async def _poll_end_offsets(self) -> None:
        await self.lag.poll(self.app.consumer)

    # --- web pages -------------------------------------------------------------------------
    def _metrics_text(self) -> bytes:
        self.lag.refresh(self.app.consumer)
        return self.metrics.render()

    async def _readiness(self) -> tuple[bool, dict[str, object]]:
        triton = redis = False
        if self.runtime is not None:
            triton, redis = await asyncio.gather(self.runtime.inference.ready(), self.runtime.cache.ping())
        try:
            assigned = len(self.app.consumer.assignment())
        except Exception:  # noqa: BLE001 - the consumer is not started yet
            assigned = 0
        return self.state.readiness(triton=triton, redis=redis, assigned_partitions=assigned)


def run_worker(settings: WorkerSettings) -> None:
    """Check the servers (creating the missing topics where TAGSTREAM_CREATE_TOPICS asks), then run the
    Faust worker until SIGINT/SIGTERM."""
    from tagstream.stream.logs import logging_config
    from tagstream.stream.servers import check_servers

    settings.redis_password()  # an unreadable password file is a setting error, before any connection
    event_loop.install(settings.event_loop)  # before the first loop is made: Faust's and its threads' too
    asyncio.run(check_servers(settings))
    worker = TaggerWorker(settings)
    faust.Worker(
        worker.app,
        loglevel=settings.log_level,
        logging_config=logging_config(settings.log_level, settings.log_json),
        quiet=True,
    ).execute_from_commandline()
