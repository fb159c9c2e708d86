"""`tagstream demo`: the whole system on one machine, then a summary.

Starts the local stack (broker, Redis, Triton; `tagstream.localstack`); trains a small model if the
Triton repository has none (else serves the latest version); runs a worker; streams products at a
chosen rate with a live progress bar; re-sends some unchanged products (served from the cache), a
delete (a tombstone) and a few broken events (dead letters); prints a sample of tag events and a
summary; and stops everything it started, also on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from tagstream.clients.producer import OutEvent, catalogue_events, produce
from tagstream.clients.subscriber import Received, read_topic
from tagstream.core.errors import DataError
from tagstream.core.names import MODEL_NAME
from tagstream.core.progress import progress_bar
from tagstream.core.repository import model_versions
from tagstream.localstack.scrape import metric_sum, scrape
from tagstream.localstack.stack import LocalStack

Echo = Callable[[str], object]
SAMPLE = resources.files("tagstream.sample")  # the sample catalogue, installed with the package


def _ensure_model(repo: Path, workdir: Path, echo: Echo) -> None:
    versions = model_versions(repo / MODEL_NAME)
    if versions:
        echo(f"model: serving the latest of versions {versions} in {repo}")
        return
    from tagstream.trainer.export import export_model
    from tagstream.trainer.options import TrainOptions
    from tagstream.trainer.pipeline import run_training

    out = workdir / "model"
    echo("model: the repository is empty; training a small model on the sample catalogue (about a minute on 2 cores)")
    train, val = Path(str(SAMPLE / "catalogue.train.jsonl")), Path(str(SAMPLE / "catalogue.val.jsonl"))
    # with attribute extraction (the sample's colour and gender words): tag events carry `attributes`
    # (at the default --extract-weight 0.1: on this sample, tags' validation micro-F1 is 0.78 with it, 0.85
    # without, 0.55 at weight 1.0)
    opts = TrainOptions(epochs=2, seed=13, max_items=1200, references=False, extract="auto")
    run_training(train, val, out, opts, echo=lambda *_: None)
    version, path = export_model(out, repo)
    echo(f"model: exported as version {version} ({path})")


def _event_id(ev: OutEvent) -> str | None:
    try:
        return str(json.loads(ev.value or b"null")["event_id"])
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class _Run:
    tags: list[Received] = field(default_factory=list)
    dead_letters: list[Received] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0


def _demo_stream(file: Path, limit: int | None) -> tuple[list[OutEvent], list[OutEvent], int]:
    """(first pass, second pass, how many broken events the second pass holds)."""
    products = list(catalogue_events(file))
    if limit:
        products = products[:limit]
    if len(products) < 2:
        raise DataError(f"{file}: the demo needs at least 2 products")
    rng = random.Random(1)
    sample = rng.sample(products[1:], min(20, len(products) - 1))
    resend = [
        OutEvent(e.key, json.dumps(dict(json.loads(e.value), event_id=f"resend-{i}")).encode())
        for i, e in enumerate(sample)
    ]
    # the delete targets a product that is not re-sent (the latest event per product in a batch wins)
    first = json.loads(products[0].value)
    delete = OutEvent(products[0].key, json.dumps(dict(first, event_id="delete-1", op="delete")).encode())
    ts = "2026-01-01T00:00:00Z"
    bad = [
        OutEvent(b"bad-1", b"{not json"),
        OutEvent(b"bad-2", json.dumps({"event_id": "e", "product_id": "bad-2", "updated_at": ts}).encode()),
        OutEvent(
            b"bad-3",
            json.dumps({"event_id": "e3", "product_id": "bad-3", "title": "x" * 5000, "updated_at": ts}).encode(),
        ),
    ]
    return products, [*resend, *bad, delete], len(bad)


async def _stream(
    stack: LocalStack, first: list[OutEvent], second: list[OutEvent], expected: tuple[int, int], rate: float
) -> _Run:
    run = _Run()
    sent_at: dict[str, float] = {}
    bar = progress_bar(total=sum(expected), desc="tagged", unit="ev")

    async def consume(topic: str, sink: list[Received]) -> None:
        async for r in read_topic(stack.broker.url, topic):
            sink.append(r)
            if r.value is not None and r.value.get("source_event_id") in sent_at:
                run.latencies.append(time.time() - sent_at[r.value["source_event_id"]])
            bar.update(1)
            bar.set_postfix(tags=len(run.tags), dead_letters=len(run.dead_letters))

    def timed(events: list[OutEvent]) -> Iterator[OutEvent]:
        for ev in events:
            eid = _event_id(ev)
            if eid:
                sent_at[eid] = time.time()
            yield ev

    consumers = [
        asyncio.create_task(consume(stack.output_topic, run.tags)),
        asyncio.create_task(consume(stack.dlq_topic, run.dead_letters)),
    ]
    t0 = time.time()
    await produce(stack.broker.url, stack.input_topic, timed(first), rate)
    await asyncio.sleep(2.0)  # let the first pass be cached before re-sending
    await produce(stack.broker.url, stack.input_topic, timed(second), rate)
    # wait for every output, but give up after 60 s without any new message
    last_count, last_change = -1, time.time()
    while len(run.tags) < expected[0] or len(run.dead_letters) < expected[1]:
        if len(run.tags) + len(run.dead_letters) != last_count:
            last_count, last_change = len(run.tags) + len(run.dead_letters), time.time()
        elif time.time() - last_change > 60:
            break
        await asyncio.sleep(0.2)
    run.elapsed = last_change - t0  # to the last output message
    for c in consumers:
        c.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)
    bar.close()
    return run


def run_demo(
    *, file: Path, rate: float, limit: int | None, repo: Path, workdir: Path, echo: Echo = print
) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    first, second, n_bad = _demo_stream(file, limit)
    stack = LocalStack(workdir, repo)
    try:
        stack.broker.start()
        stack.redis.start()
        echo(f"broker: tansu on {stack.broker.url}   redis: {stack.redis.url}")
        _ensure_model(repo, workdir, echo)
        stack.start()  # Triton and the topics (the broker and Redis are up already)
        echo(f"triton: grpc {stack.triton.grpc_url}, metrics {stack.triton.metrics_url}")
        worker = stack.start_worker("worker", app_id=f"tagstream-demo-{random.randrange(10**6)}")
        echo(f"worker: health http://127.0.0.1:{worker.port}/readyz, metrics /metrics, log {worker.log_path}")

        stream = first + second
        expected = (len(stream) - n_bad, n_bad)
        run = asyncio.run(_stream(stack, first, second, expected, rate))
        metrics = scrape(f"http://127.0.0.1:{worker.port}/metrics")
        hits = metric_sum(metrics, "tagstream_cache_hits_total")
        misses = metric_sum(metrics, "tagstream_cache_misses_total")
        lat = np.array(run.latencies) if run.latencies else np.array([float("nan")])
        tags = [r for r in run.tags if r.value is not None]
        echo("\nsample tag events:")
        for r in tags[:5]:
            shown = (
                ", ".join(f"{t['tag']} ({t['score']:.2f})" for t in r.value["tags"][:5])
                or "(no tag reached its threshold)"
            )
            found = ", ".join(f"{a['key']}={a['value']!r}" for a in r.value.get("attributes") or [])
            if found:
                shown += f"  | extracted: {found}"
            echo(f"  {r.key} v{r.value['model_version']}{' [cached]' if r.value['cached'] else ''}: {shown}")
        tombstones = [r for r in run.tags if r.value is None]
        if tombstones:
            echo(f"  {tombstones[0].key}: tombstone (deleted)")
        for r in run.dead_letters[:3]:
            echo(f"  dead letter [{r.value['stage']}]: {r.value['error'][:100]}")
        summary = {
            "events_sent": len(stream),
            "tag_events": len(tags),
            "tombstones": len(tombstones),
            "dead_letters": len(run.dead_letters),
            "events_per_s": len(stream) / max(run.elapsed, 1e-9),
            "cache_hit_rate": hits / max(hits + misses, 1),
            "latency_p50_ms": float(np.nanpercentile(lat, 50) * 1000),
            "latency_p99_ms": float(np.nanpercentile(lat, 99) * 1000),
            "complete": len(run.tags) >= expected[0] and len(run.dead_letters) >= expected[1],
        }
        echo("\nsummary:")
        echo(
            f"  events sent {summary['events_sent']} at ~{rate:g}/s -> {summary['tag_events']} tag events, "
            f"{summary['tombstones']} tombstone, {summary['dead_letters']} dead letters "
            f"({'all accounted for' if summary['complete'] else 'INCOMPLETE'})"
        )
        echo(
            f"  throughput {summary['events_per_s']:.1f} events/s end to end; "
            f"cache hit rate {summary['cache_hit_rate']:.1%}"
        )
        echo(
            f"  latency from send to tag event: p50 {summary['latency_p50_ms']:.0f} ms, "
            f"p99 {summary['latency_p99_ms']:.0f} ms"
        )
        return summary
    finally:
        started = [p for p in (*stack.workers, stack.triton, stack.redis, stack.broker) if p.running]
        if started:
            echo("stopping...")
        stack.stop()
        if started:
            echo(f"stopped {', '.join(p.name for p in started)}")
