"""The Faust app: one agent (concurrency=1) that takes micro-batches of product updates with
`noack_take(max, within)`, runs each through the `BatchProcessor`, publishes the results, waits for
the broker's acknowledgements, and only then acks the batch's input events (so their offsets can be
committed). Nothing is acked any other way:

- a dependency away (`Retryable`): the batch is paused and retried, nothing is acked;
- SIGTERM: the batch in flight may finish within `shutdown_grace_s`; otherwise it is abandoned
  unacked and the next worker replays it. A watchdog bounds the whole stop;
- any other failure, or too many dead letters: crash-only. The worker logs it, commits what earlier
  batches acked, and exits with code 70 at once, so Faust can neither restart the agent over the
  half-handled batch nor commit past it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import tempfile
import threading
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from faust.auth import SASLCredentials, SSLCredentials
from faust.types import TP, ProducerT
from faust.types.auth import CredentialsT, SASLMechanism

from tagstream import __version__
from tagstream.stream import event_loop
from tagstream.stream.cache import TagCache
from tagstream.stream.errors import Retryable, WorkerError
from tagstream.stream.faust_transport import consumer_url
from tagstream.stream.health import WorkerState
from tagstream.stream.metrics import WorkerMetrics
from tagstream.stream.pipeline import BatchProcessor
from tagstream.stream.publisher import Headers, Publisher, PublishReport
from tagstream.stream.records import Record, batch_log_context
from tagstream.stream.results import BatchOutcome
from tagstream.stream.settings import WorkerSettings
from tagstream.stream.triton_client import TritonTagger

log = logging.getLogger(__name__)

#: Exit code after a failure that is not one event's (EX_SOFTWARE): nothing of the batch committed.
EXIT_CRASH = 70
#: Exit code when a stop did not finish within its bound (the watchdog).
EXIT_STOP_TIMEOUT = 75
#: Added to `shutdown_grace_s` for the rest of a stop (commit, producer flush, closing clients).
STOP_MARGIN_S = 20.0


def data_dir(app_id: str) -> Path:
    """Where a Faust app keeps its (here empty) data directory: under the temporary directory, not
    in the working directory."""
    path = Path(tempfile.gettempdir()) / "tagstream" / f"{app_id}-data"
    path.mkdir(parents=True, exist_ok=True)
    return path


class DeadLetterRateExceeded(WorkerError):
    """Too many recent events were dead-lettered: the model or the input is broken."""


@dataclass
class Runtime:
    """The clients, opened when the app starts and closed when it stops."""

    tagger: TritonTagger
    cache: TagCache
    processor: BatchProcessor
    publisher: Publisher

    async def close(self) -> None:
        await asyncio.gather(self.tagger.close(), self.cache.close(), return_exceptions=True)


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


def faust_app(
    s: WorkerSettings, app_id: str, app_class: type[faust.App] = faust.App, *, web_enabled: bool, **extra: Any
) -> faust.App:
    """A Faust app on the worker's broker, transport, timeouts, producer and data directory, from the
    settings; `extra` are further Faust settings (the web server's). The benchmark's forward-only app
    is built here too, so that it measures the worker's own Kafka path."""
    app = app_class(
        app_id,
        broker=s.broker_url,
        broker_consumer=consumer_url(s.broker_url),
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        # faust keeps a data directory even with in-memory tables: not in the working directory
        datadir=str(data_dir(app_id)),
        web_enabled=web_enabled,
        broker_session_timeout=s.session_timeout_s,
        broker_heartbeat_interval=s.heartbeat_s,
        broker_rebalance_timeout=s.rebalance_timeout_s,
        broker_commit_interval=s.commit_interval_s,
        consumer_auto_offset_reset="earliest",
        topic_partitions=s.topic_partitions,
        topic_allow_declare=True,
        producer_acks=-1,
        producer_max_request_size=s.producer_max_request_bytes,
        broker_credentials=broker_credentials(s),
        # our acks mark finished batches only: on stop, commit those and do not wait for the
        # batch in flight (it is drained or abandoned first, see drain())
        stream_wait_empty=False,
        **extra,
    )
    app.fetch_max_wait_ms = s.fetch_max_wait_ms  # type: ignore[attr-defined]  # read by faust_transport
    return app


def raw_topic(app: faust.App, name: str) -> faust.TopicT:
    """The input topic with keys and values as bytes: the worker decodes and validates them itself."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


class TaggerWorker:
    def __init__(self, settings: WorkerSettings):
        self.settings = s = settings
        self.metrics = WorkerMetrics()
        self.state = WorkerState()
        self.runtime: Runtime | None = None
        self._stop_requested = asyncio.Event()
        self._recent_dead: collections.deque[int] = collections.deque()  # per batch: dead letters
        self._recent_events: collections.deque[int] = collections.deque()  # per batch: events
        self._positions: dict[TP, int] = {}  # next offset to process, per assigned partition
        self._in_flight = 0  # batches taken and not yet finished
        self._finisher: asyncio.Task[None] | None = None  # publishes and acks finished batches (see _agent)
        self._watchdog: threading.Timer | None = None  # bounds the stop (see drain)
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
        self._add_pages()

    def _add_pages(self) -> None:
        # faust calls a page function as fun(view, request); a bound method would lose the view
        async def metrics(view: Any, request: Any) -> Any:
            return await self._metrics_view(view)

        async def healthz(view: Any, request: Any) -> Any:
            return view.json(self.state.liveness())

        async def readyz(view: Any, request: Any) -> Any:
            return await self._ready_view(view)

        self.app.page("/metrics")(metrics)
        self.app.page("/healthz")(healthz)
        self.app.page("/readyz")(readyz)

    # --- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        s = self.settings
        loop = event_loop.running()
        self.metrics.worker_info.info({"version": __version__, "event_loop": loop})
        log.info("tagstream %s worker on the %s event loop", __version__, loop)
        tagger = TritonTagger(
            s.triton_url,
            s.model_name,
            timeout_s=s.triton_timeout_s,
            retries=s.triton_retries,
            request_items=s.triton_request_items,
            version_check_s=s.version_check_s,
            **s.triton_tls_kwargs(),
        )
        cache = TagCache(
            s.redis_url.get_secret_value(),
            s.cache_ttl_s,
            s.redis_timeout_s,
            password=s.redis_password(),
            **s.redis_tls_kwargs(),
        )
        processor = BatchProcessor(
            tagger=tagger, cache=cache, model_name=s.model_name, limits=s, explain_top_words=s.explain_top_words
        )
        publisher = Publisher(
            self._send,
            output_topic=s.output_topic,
            dlq_topic=s.dlq_topic,
            max_request_bytes=s.producer_max_request_bytes,
        )
        self.runtime = Runtime(tagger, cache, processor, publisher)
        # the event size limit, the producer's request size and the dead-letter encoding, side by side
        kept = publisher.max_value_bytes
        log.info(
            "events up to %d bytes are accepted (TAGSTREAM_MAX_EVENT_BYTES); a dead letter keeps up to %d bytes of "
            "its original (base64 under TAGSTREAM_PRODUCER_MAX_REQUEST_BYTES=%d)%s",
            s.max_event_bytes,
            kept,
            s.producer_max_request_bytes,
            "" if kept >= s.max_event_bytes else "; larger rejected events keep a prefix, their size and coordinates",
        )

    async def drain(self) -> None:
        """Stop taking batches; give the one in flight `shutdown_grace_s` to finish."""
        if self.state.stopping:
            return
        self.state.stopping = True
        self._stop_requested.set()
        bound = self.settings.shutdown_grace_s + STOP_MARGIN_S
        self._watchdog = threading.Timer(bound, self._stop_timed_out, args=(bound,))
        self._watchdog.daemon = True
        self._watchdog.start()
        try:
            await asyncio.wait_for(self.state.idle.wait(), self.settings.shutdown_grace_s)
        except TimeoutError:
            log.warning(
                "stopping: the batch in flight did not finish within %.0f s; it is abandoned unacked "
                "and will be replayed",
                self.settings.shutdown_grace_s,
            )

    @staticmethod
    def _stop_timed_out(bound: float) -> None:
        log.error("the stop did not finish within %.0f s; exiting now (nothing unfinished was committed)", bound)
        logging.shutdown()
        os._exit(EXIT_STOP_TIMEOUT)

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
        # Not `app.maybe_start_producer()` either: it is wrapped in a stampede guard that yields to
        # the event loop on every call, so the producer's sender sent each message of a batch in its
        # own request (measured: 7 produce requests per 32-event batch instead of under one).
        return await (await started_producer(self.app)).send(topic, key, value, None, None, headers)

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
                report = await self.runtime.publisher.publish(outcome.results)
                self._check_dead_letter_rate(len(batch.records), sum(report.dead_letters.values()))
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

    async def _process(self, records: list[Record], ctx: dict[str, object]) -> BatchOutcome | None:
        """Run the batch until it is done; None when the worker stops while a dependency is away."""
        assert self.runtime is not None
        pause = self.settings.triton_pause_s
        while True:
            try:
                outcome = await self.runtime.processor.process(records)
            except Retryable as e:
                self.state.stalled = True
                self.metrics.stalled.set(1)
                self.metrics.inference_failures.labels(type(e).__name__).inc()
                self.metrics.batch_retries.inc()
                if self.state.stopping:
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
                    await asyncio.wait_for(self._stop_requested.wait(), pause)
                except TimeoutError:
                    pass
                pause = min(pause * 2, 30.0)
                continue
            self.state.stalled = False
            self.metrics.stalled.set(0)
            return outcome

    def _check_dead_letter_rate(self, events: int, dead: int) -> None:
        """Raise when more than `dlq_max_rate` of the last `dlq_window` events were dead-lettered."""
        s = self.settings
        self._recent_events.append(events)
        self._recent_dead.append(dead)
        while len(self._recent_events) > 1 and sum(self._recent_events) - self._recent_events[0] >= s.dlq_window:
            self._recent_events.popleft()
            self._recent_dead.popleft()
        seen, dead_total = sum(self._recent_events), sum(self._recent_dead)
        if s.dlq_max_rate < 1 and seen >= s.dlq_window and dead_total > s.dlq_max_rate * seen:
            raise DeadLetterRateExceeded(
                f"{dead_total} of the last {seen} events were dead-lettered (limit TAGSTREAM_DLQ_MAX_RATE="
                f"{s.dlq_max_rate}); stopping: check the model and the input, then replay the dead letters"
            )

    def _record(
        self, records: list[Record], outcome: BatchOutcome, report: PublishReport, ctx: dict[str, object]
    ) -> None:
        self.metrics.observe_batch(outcome.stats)
        for kind, n in report.tag_events.items():
            self.metrics.tag_events.labels(kind).inc(n)
        for stage, n in report.dead_letters.items():
            self.metrics.dead_letters.labels(stage).inc(n)
        for latency in report.latencies_s:
            self.metrics.e2e_latency.observe(latency)
        self.state.last_batch_at = time.monotonic()
        for r in records:
            tp = TP(r.topic, r.partition)
            self._positions[tp] = max(self._positions.get(tp, 0), r.offset + 1)
        self._refresh_lag()
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

    async def _crash(self, exc: BaseException, events: Sequence[faust.EventT]) -> None:
        """Crash-only: commit what earlier batches acked (never this batch), then exit at once."""
        self.state.stopping = True
        ctx = (
            batch_log_context(
                [Record(e.message.topic, e.message.partition, e.message.offset, None, None) for e in events]
            )
            if events
            else {}
        )
        log.critical(
            "stopping the worker on %s: %s; this batch is not committed and will be replayed",
            type(exc).__name__,
            exc,
            exc_info=not isinstance(exc, WorkerError),
            extra=ctx,
        )
        try:
            await asyncio.wait_for(self.app.consumer.commit(), 5.0)
        except Exception as e:  # noqa: BLE001 - best effort: uncommitted batches are replayed
            log.warning("could not commit earlier batches before exiting: %r", e)
        logging.shutdown()
        os._exit(EXIT_CRASH)

    # --- lag and web endpoints ---------------------------------------------------------------
    def _refresh_lag(self) -> None:
        """Lag of each assigned partition: its high watermark (kept current by fetches) minus the
        next offset to process (what this worker finished, else the committed offset). Known from
        the partition's first fetch on, also when no batch ever succeeded."""
        try:
            consumer = self.app.consumer
            assigned = consumer.assignment()
        except Exception:  # noqa: BLE001 - the consumer is not started yet
            return
        committed: dict[TP, int | None] = getattr(consumer, "_committed_offset", {})
        for tp in list(self._positions):
            if tp not in assigned:  # revoked: another worker reports it now
                del self._positions[tp]
        for labels in list(self.metrics.consumer_lag._metrics):
            if TP(labels[0], int(labels[1])) not in assigned:
                self.metrics.consumer_lag.remove(*labels)
        for tp in assigned:
            try:
                hw = consumer.highwater(tp)
            except Exception:  # noqa: BLE001 - not fetched yet
                continue
            if hw is None:
                continue
            next_offset = max(self._positions.get(tp, 0), committed.get(tp) or 0)
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, hw - next_offset))

    async def _metrics_view(self, web: Any) -> Any:
        self._refresh_lag()
        return web.bytes(self.metrics.render(), content_type="text/plain; version=0.0.4")

    async def _ready_view(self, web: Any) -> Any:
        triton = redis = False
        if self.runtime is not None:
            triton, redis = await asyncio.gather(self.runtime.tagger.ready(), self.runtime.cache.ping())
        try:
            assigned = len(self.app.consumer.assignment())
        except Exception:  # noqa: BLE001 - the consumer is not started yet
            assigned = 0
        ready, body = self.state.readiness(triton=triton, redis=redis, assigned_partitions=assigned)
        return web.json(body, status=200 if ready else 503)


async def started_producer(app: faust.App) -> ProducerT:
    """The app's producer, started if it is not yet; never yields to the event loop once started, so
    the messages of a batch sent in a row share produce requests."""
    producer = app.producer
    await producer.maybe_start()
    return producer


def broker_credentials(s: WorkerSettings) -> CredentialsT | None:
    """The Kafka settings as faust credentials (None: plaintext)."""
    if s.kafka_security_protocol == "SSL":
        return SSLCredentials(s.ssl_context())
    if s.kafka_security_protocol.startswith("SASL"):
        assert s.kafka_sasl_password is not None
        return SASLCredentials(
            username=s.kafka_sasl_username,
            password=s.kafka_sasl_password.get_secret_value(),
            ssl_context=s.ssl_context(),
            mechanism=SASLMechanism(s.kafka_sasl_mechanism),
        )
    return None


def run_worker(settings: WorkerSettings) -> None:
    """Create the missing topics (TAGSTREAM_CREATE_TOPICS), then run the Faust worker until
    SIGINT/SIGTERM."""
    from tagstream.stream.logs import logging_config
    from tagstream.stream.topics import create_topics

    settings.redis_password()  # an unreadable password file is a setting error, before any connection
    event_loop.install(settings.event_loop)  # before the first loop is made: Faust's and its threads' too
    if settings.create_topics:
        asyncio.run(create_topics(settings))
    worker = TaggerWorker(settings)
    faust.Worker(
        worker.app,
        loglevel=settings.log_level,
        logging_config=logging_config(settings.log_level, settings.log_json),
        quiet=True,
    ).execute_from_commandline()
