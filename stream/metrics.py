"""Prometheus metrics of one worker (its own registry: no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class WorkerMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.events_in = Counter("tagstream_events_in_total", "Input events consumed", registry=r)
        self.events_superseded = Counter("tagstream_events_superseded_total", "Events replaced by a later event for the same product in the same batch", registry=r)
        self.tag_events = Counter("tagstream_tag_events_published_total", "Tag events published (acknowledged by the broker)", ["kind"], registry=r)
        self.cache_hits = Counter("tagstream_cache_hits_total", "Results served from the Redis cache", registry=r)
        self.cache_misses = Counter("tagstream_cache_misses_total", "Cache lookups that missed", registry=r)
        self.cache_errors = Counter("tagstream_cache_errors_total", "Redis operations that failed (treated as misses)", ["op"], registry=r)
        self.dead_letters = Counter("tagstream_dead_letters_total", "Events sent to the dead-letter topic", ["stage"], registry=r)
        self.inference_requests = Counter("tagstream_inference_requests_total", "Batched inference calls to Triton", registry=r)
        self.inference_items = Counter("tagstream_inference_items_total", "Texts sent to Triton", registry=r)
        self.inference_failures = Counter("tagstream_inference_failures_total", "Batches whose inference failed and was retried", ["error"], registry=r)
        self.batch_size = Histogram("tagstream_batch_size", "Events per micro-batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=r)
        self.inference_seconds = Histogram("tagstream_inference_seconds", "Triton inference time per batch", buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r)
        self.e2e_latency = Histogram("tagstream_end_to_end_latency_seconds", "From the input event's timestamp to its tag event's acknowledgement",
                                     buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=r)
        self.consumer_lag = Gauge("tagstream_consumer_lag", "Messages behind the partition's high watermark", ["topic", "partition"], registry=r)
        self.model_version = Gauge("tagstream_model_version", "Model version the worker last saw serving", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
