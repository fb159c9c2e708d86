"""The Faust app: one agent (concurrency=1) that micro-batches product updates with
`take_events(max, within)`, runs each batch through `BatchProcessor`, publishes the results, waits for
the broker's acks, and only then lets Faust ack (and so commit) the input offsets."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import faust
from faust.types import TP

from stream.cache import TagCache
from stream.faust_transport import consumer_url
from stream.events import Limits
from stream.metrics import WorkerMetrics
from stream.processing import BatchProcessor, InferenceUnavailable, Outgoing, Record
from stream.settings import WorkerSettings
from stream.triton_client import TritonTagger, VersionWatcher

log = logging.getLogger("tagstream.worker")

MAX_UNEXPECTED_RETRIES = 3


@dataclass
class Runtime:
    """Clients bound to the running event loop, created on the first batch."""

    tagger: TritonTagger
    cache: TagCache
    processor: BatchProcessor


class TaggerWorker:
    def __init__(self, settings: WorkerSettings):
        self.settings = s = settings
        self.metrics = WorkerMetrics()
        self.runtime: Runtime | None = None
        self.last_batch_at = time.monotonic()
        self.inference_ok = True
        # next offset to process per (topic, partition), for the lag gauge
        self._positions: dict[tuple[str, int], int] = {}
        self.app = faust.App(
            s.app_id,
            broker=s.broker_url,
            broker_consumer=consumer_url(s.broker_url),
            key_serializer="raw",
            value_serializer="raw",
            store="memory://",
            web_enabled=True,
            web_bind=s.web_host,
            web_host=s.web_host,
            web_port=s.web_port,
            broker_session_timeout=s.session_timeout_s,
            broker_heartbeat_interval=s.heartbeat_s,
            broker_rebalance_timeout=s.rebalance_timeout_s,
            broker_commit_interval=s.commit_interval_s,
            consumer_auto_offset_reset="earliest",
            topic_partitions=s.topic_partitions,
            topic_allow_declare=True,
            producer_acks=-1,
        )
        self.app.fetch_max_wait_ms = s.fetch_max_wait_ms  # read by stream.faust_transport
        raw = dict(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
        self.source = self.app.topic(s.input_topic, **raw)
        self.output = self.app.topic(s.output_topic, **raw)
        self.dlq = self.app.topic(s.dlq_topic, **raw)
        self._topics = {s.output_topic: self.output, s.dlq_topic: self.dlq}
        self.app.agent(self.source, name="tag_products", concurrency=1)(self._agent)
        worker = self

        # faust calls page functions as fun(view, request)
        async def metrics_view(view, request):
            return await worker._metrics_view(view, request)

        async def health_view(view, request):
            return await worker._health_view(view, request)

        async def ready_view(view, request):
            return await worker._ready_view(view, request)

        self.app.page("/metrics")(metrics_view)
        self.app.page("/healthz")(health_view)
        self.app.page("/readyz")(ready_view)

    # --- lifecycle -------------------------------------------------------------------------
    async def _ensure_runtime(self) -> Runtime:
        if self.runtime is None:
            s = self.settings
            tagger = TritonTagger(s.triton_url, s.model_name, timeout_s=s.triton_timeout_s, retries=s.triton_retries,
                                  request_items=s.triton_request_items)
            cache = TagCache(s.redis_url.get_secret_value(), s.cache_ttl_s, s.redis_timeout_s,
                             on_error=lambda op: self.metrics.cache_errors.labels(op).inc())
            limits = Limits(max_title_chars=s.max_title_chars, max_description_chars=s.max_description_chars, max_brand_chars=s.max_brand_chars,
                            max_attributes=s.max_attributes, max_attribute_chars=s.max_attribute_chars)
            processor = BatchProcessor(tagger=tagger, versions=VersionWatcher(tagger, s.version_check_s), cache=cache, metrics=self.metrics,
                                       output_topic=s.output_topic, dlq_topic=s.dlq_topic, model_name=s.model_name, limits=limits,
                                       max_event_bytes=s.max_event_bytes)
            self.runtime = Runtime(tagger, cache, processor)
        return self.runtime

    # --- the agent -------------------------------------------------------------------------
    async def _agent(self, stream):
        async for events in stream.take_events(self.settings.batch_max, within=self.settings.batch_wait_s):
            # Errors are caught per batch: one that escaped would kill the agent and stall the partition.
            try:
                await self.handle_batch(events)
            except asyncio.CancelledError:
                raise
            except Exception:  # pragma: no cover - last resort; handle_batch handles its own errors
                log.exception("batch handling failed unexpectedly; the batch will be replayed after a restart")
                raise

    async def handle_batch(self, events) -> None:
        records = [Record(e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value, e.message.timestamp) for e in events]
        rt = await self._ensure_runtime()
        first, last = records[0], records[-1]
        pause, unexpected = self.settings.triton_pause_s, 0
        while True:
            try:
                result = await rt.processor.process(records)
                self.inference_ok = True
                break
            except InferenceUnavailable as e:
                # Do not drop, do not commit: wait and retry the same batch.
                self.inference_ok = False
                log.warning("triton unavailable; pausing %.1f s before retrying %d events: %s", pause, len(records), e,
                            extra={"topic": first.topic, "partition": first.partition, "offset": first.offset})
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)
            except Exception as e:  # a bug or an unexpected failure: retry, then dead-letter the batch
                unexpected += 1
                log.exception("unexpected error processing a batch (try %d/%d)", unexpected, MAX_UNEXPECTED_RETRIES,
                              extra={"topic": first.topic, "partition": first.partition, "offset": first.offset})
                if unexpected >= MAX_UNEXPECTED_RETRIES:
                    messages = [rt.processor.dead_letter(r, "inference", f"unexpected error: {e!r}") for r in records]
                    await self.publish(messages)
                    return
                await asyncio.sleep(pause)
        await self.publish(result.messages)
        self.last_batch_at = time.monotonic()
        log.info("batch done", extra={"topic": first.topic, "partition": first.partition, "offset": first.offset, "last_offset": last.offset,
                                       "events": len(records), "published": len(result.messages), "inferred": result.inferred, "cache_hits": result.cache_hits})
        for r in records:
            key = (r.topic, r.partition)
            self._positions[key] = max(self._positions.get(key, 0), r.offset + 1)
        self._refresh_lag()

    async def publish(self, messages: list[Outgoing]) -> None:
        """Send every message and wait for the broker's acknowledgement. A tag event that cannot be
        published becomes a dead letter (stage publish); a dead letter that cannot be published is
        retried until it is, so nothing is committed unaccounted for."""
        pending = list(messages)
        attempt = 0
        while pending:
            futures = []
            for m in pending:
                futures.append(await self._topics[m.topic].send(key=m.key, value=m.value))
            results = await asyncio.gather(*futures, return_exceptions=True)
            retry: list[Outgoing] = []
            now = time.time()
            for m, res in zip(pending, results):
                if isinstance(res, BaseException):
                    log.warning("publish to %s failed: %r", m.topic, res, extra={"topic": m.record.topic, "partition": m.record.partition, "offset": m.record.offset})
                    if m.kind == "dead_letter":
                        retry.append(m)
                    else:
                        retry.append(self.runtime.processor.dead_letter(m.record, "publish", f"publishing to {m.topic} failed: {res!r}"))
                    continue
                if m.kind == "dead_letter":
                    self.metrics.dead_letters.labels(m.stage).inc()
                else:
                    self.metrics.tag_events.labels(m.kind).inc()
                    if m.record.timestamp:
                        self.metrics.e2e_latency.observe(max(0.0, now - m.record.timestamp))
            pending = retry
            if pending:
                attempt += 1
                await asyncio.sleep(min(30.0, 0.5 * 2**attempt))

    def _refresh_lag(self) -> None:
        """Set the lag gauge of each assigned partition from its high watermark (which the consumer
        keeps current while fetching) and the next offset to process. Called after each batch and
        on every scrape, so a stalled worker (Triton away) shows its lag growing."""
        consumer = self.app.consumer
        try:
            assigned = consumer.assignment()
        except Exception:  # noqa: BLE001 - lag is best effort (consumer not started yet)
            return
        for (topic, partition), next_offset in list(self._positions.items()):
            tp = TP(topic, partition)
            if tp not in assigned:  # revoked: another worker reports it now
                del self._positions[(topic, partition)]
                try:
                    self.metrics.consumer_lag.remove(topic, str(partition))
                except KeyError:
                    pass
                continue
            try:
                hw = consumer.highwater(tp)
            except Exception:  # noqa: BLE001 - lag is best effort
                continue
            if hw is not None:
                self.metrics.consumer_lag.labels(topic, str(partition)).set(max(0, hw - next_offset))

    # --- web endpoints -----------------------------------------------------------------------
    async def _metrics_view(self, web, request):
        self._refresh_lag()
        return web.bytes(self.metrics.render(), content_type="text/plain; version=0.0.4")

    async def _health_view(self, web, request):
        return web.json({"status": "ok", "seconds_since_last_batch": round(time.monotonic() - self.last_batch_at, 1)})

    async def _ready_view(self, web, request):
        rt = await self._ensure_runtime()
        triton = await rt.tagger.ready()
        redis_ok = await rt.cache.ping()
        assigned = len(self.app.consumer.assignment()) if self.app.consumer else 0
        ready = triton and self.inference_ok
        body = {"ready": ready, "triton": triton, "redis": redis_ok, "assigned_partitions": assigned}
        return web.json(body, status=200 if ready else 503)


def run_worker(settings: WorkerSettings) -> None:
    """Create the topics, then run the Faust worker until SIGINT/SIGTERM."""
    import faust as _faust

    from stream.logs import logging_config
    from stream.topics import ensure_topics

    asyncio.run(ensure_topics(settings.broker_url, {settings.input_topic: settings.topic_partitions, settings.output_topic: settings.topic_partitions,
                                                    settings.dlq_topic: 1}))
    worker = TaggerWorker(settings)
    _faust.Worker(worker.app, loglevel=settings.log_level, logging_config=logging_config(settings.log_level, settings.log_json), quiet=True).execute_from_commandline()
