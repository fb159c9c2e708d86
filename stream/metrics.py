"""Prometheus metrics of one worker (its own registry, no global state), recorded by the app alone
from each batch's statistics and publishing report."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from tagstream.stream.publisher import PublishReport
from tagstream.stream.results import BatchStats


class WorkerMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        # the standard process_* / python_* metrics (CPU, memory, open fds, GC)
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.events_in = Counter("tagstream_events_in_total", "Input events consumed (each counted once)", registry=r)
        self.events_superseded = Counter(
            "tagstream_events_superseded_total",
            "Events replaced by a later event for the same product in the same batch",
            registry=r,
        )
        self.tag_events = Counter(
            "tagstream_tag_events_published_total",
            "Tag events published (acknowledged by the broker)",
            ["kind"],
            registry=r,
        )
        self.cache_hits = Counter("tagstream_cache_hits_total", "Results served from the Redis cache", registry=r)
        self.cache_misses = Counter("tagstream_cache_misses_total", "Cache lookups that missed", registry=r)
        self.cache_errors = Counter(
            "tagstream_cache_errors_total",
            "Redis operations that failed (treated as misses)",
            ["op"],
            registry=r,
        )
        self.dead_letters = Counter(
            "tagstream_dead_letters_total", "Events sent to the dead-letter topic", ["stage"], registry=r
        )
        self.inference_requests = Counter(
            "tagstream_inference_requests_total", "Batched inference calls to Triton", registry=r
        )
        self.inference_items = Counter("tagstream_inference_items_total", "Texts sent to Triton", registry=r)
        self.inference_failures = Counter(
            "tagstream_inference_failures_total", "Inference calls that failed", ["error"], registry=r
        )
        self.batch_retries = Counter(
            "tagstream_batch_retries_total",
            "Batches paused and retried because a dependency was away",
            registry=r,
        )
        self.batch_size = Histogram(
            "tagstream_batch_size",
            "Events per micro-batch",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.inference_seconds = Histogram(
            "tagstream_inference_seconds",
            "Triton inference time per batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.e2e_latency = Histogram(
            "tagstream_end_to_end_latency_seconds",
            "From the input event's timestamp to its tag event's acknowledgement",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.consumer_lag = Gauge(
            "tagstream_consumer_lag",
            "Events behind the partition's end offset (the fetch's high watermark or the broker's, the larger)",
            ["topic", "partition"],
            registry=r,
        )
        self.partition_idle = Gauge(
            "tagstream_partition_idle_seconds",
            "Seconds the partition has had events waiting and none processed (0 when caught up)",
            ["topic", "partition"],
            registry=r,
        )
        self.model_version = Gauge("tagstream_model_version", "Model version the worker last saw serving", registry=r)
        self.stalled = Gauge("tagstream_stalled", "1 while a batch waits for a dependency to come back", registry=r)
        self.worker_info = Info("tagstream_worker", "The worker's version and the event loop it runs on", registry=r)

    def observe_batch(self, stats: BatchStats) -> None:
        """Record one processed micro-batch (called once per batch, after its output was published)."""
        self.batch_size.observe(stats.events)
        self.events_superseded.inc(stats.superseded)
        self.cache_hits.inc(stats.cache_hits)
        self.cache_misses.inc(stats.cache_misses)
        for op, n in stats.cache_errors.items():
            self.cache_errors.labels(op).inc(n)
        if stats.inference_requests:
            self.inference_requests.inc(stats.inference_requests)
            self.inference_items.inc(stats.texts_sent)
            self.inference_seconds.observe(stats.inference_seconds)
        for error, n in stats.inference_failures.items():
            self.inference_failures.labels(error).inc(n)
        if stats.model_version is not None:
            self.model_version.set(int(stats.model_version))

    def observe_publish(self, stats: BatchStats, report: PublishReport) -> None:
        """Record a micro-batch whose output was published: its statistics and what was published."""
        self.observe_batch(stats)
        for kind, n in report.tag_events.items():
            self.tag_events.labels(kind).inc(n)
        for stage, n in report.dead_letters.items():
            self.dead_letters.labels(stage).inc(n)
        for latency in report.latencies_s:
            self.e2e_latency.observe(latency)

    def render(self) -> bytes:
        return generate_latest(self.registry)
