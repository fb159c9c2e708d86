"""`tagstream demo`: the whole system on one machine, then a summary.

Starts the embedded broker (Tansu), Redis and Triton; creates the topics; trains a small model if
the Triton repository has none (else serves the latest version); runs the worker; streams products
at a chosen rate with a live progress line; re-sends some unchanged products (served from the
cache), a delete (a tombstone) and a few broken events (dead letters); prints a sample of tag events
and a summary; and stops everything it started, also on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _ensure_model(repo: Path, workdir: Path, echo) -> None:
    from trainer.export import MODEL_NAME, export_model, versions

    if versions(repo / MODEL_NAME):
        echo(f"model: serving the latest of versions {versions(repo / MODEL_NAME)} in {repo}")
        return
    from trainer.pipeline import run_training
    from trainer.train import TrainOptions

    examples = Path(__file__).resolve().parents[1] / "examples"
    out = workdir / "model"
    echo("model: the repository is empty; training a small model on the sample catalogue (about 2 minutes on 2 cores)")
    run_training(examples / "catalogue.train.jsonl", examples / "catalogue.val.jsonl", out, TrainOptions(epochs=2, seed=13),
                 max_items=1200, references=False, echo=lambda *_: None)
    version, path = export_model(out, repo)
    echo(f"model: exported as version {version} ({path})")


def _wait_ready(worker: subprocess.Popen, port: int, workdir: Path, timeout: float = 120.0) -> None:
    """Until the worker serves /readyz with partitions assigned (a consumer group join takes a few s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited ({worker.returncode}); see {workdir / 'worker.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                if json.loads(r.read()).get("assigned_partitions", 0) > 0:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the worker was not ready within {timeout:.0f} s; see {workdir / 'worker.log'}")


def run_demo(*, file: Path, rate: float, limit: int | None, repo: Path, workdir: Path, echo=print) -> dict:
    from tqdm import tqdm

    from stream.embedded import RedisServer, TansuBroker
    from stream.net import free_port
    from stream.producer import OutEvent, catalogue_events, produce
    from stream.subscriber import read_topic
    from stream.topics import ensure_topics
    from stream.tritonserver import TritonServer

    workdir.mkdir(parents=True, exist_ok=True)
    started: list = []
    worker = None
    try:
        broker = TansuBroker(workdir=workdir).start()
        started.append(broker)
        redis = RedisServer(workdir=workdir).start()
        started.append(redis)
        echo(f"broker: tansu on {broker.url}   redis: {redis.url}")
        _ensure_model(repo, workdir, echo)
        triton = TritonServer(repo=repo, workdir=workdir / "triton", load_models=("product_tagger",)).start()
        started.append(triton)
        deadline = time.monotonic() + 300
        while not triton.model_ready("product_tagger"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Triton did not load the model; see {workdir / 'triton' / 'tritonserver.log'}")
            time.sleep(0.5)
        echo(f"triton: grpc {triton.grpc_url}, metrics {triton.metrics_url}")
        topics = {"product-updates": 4, "product-tags": 4, "product-tags.dlq": 1}
        asyncio.run(ensure_topics(broker.url, topics))
        web_port = free_port()
        env = dict(os.environ, TAGSTREAM_BROKER_URL=broker.url, TAGSTREAM_REDIS_URL=redis.url, TAGSTREAM_TRITON_URL=triton.grpc_url,
                   TAGSTREAM_WEB_PORT=str(web_port), TAGSTREAM_APP_ID=f"tagstream-demo-{random.randrange(10**6)}")
        worker = subprocess.Popen([sys.executable, "-m", "tagstream.cli", "worker"], env=env,
                                  stdout=open(workdir / "worker.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        echo(f"worker: pid {worker.pid}, health http://127.0.0.1:{web_port}/readyz, metrics /metrics, log {workdir / 'worker.log'}")
        _wait_ready(worker, web_port, workdir)

        products = list(catalogue_events(file))
        if limit:
            products = products[:limit]
        rng = random.Random(1)
        sample = rng.sample(products[1:], min(20, len(products) - 1))
        resend = [OutEvent(e.key, json.dumps(dict(json.loads(e.value), event_id=f"resend-{i}")).encode()) for i, e in enumerate(sample)]
        # the delete targets a product that is not re-sent: two events for one product in one
        # micro-batch give one output (the latest wins)
        first = json.loads(products[0].value)
        delete = OutEvent(products[0].key, json.dumps(dict(first, event_id="delete-1", op="delete")).encode())
        bad = [OutEvent(b"bad-1", b"{not json"), OutEvent(b"bad-2", json.dumps({"event_id": "e", "product_id": "bad-2", "updated_at": "2026-01-01T00:00:00Z"}).encode()),
               OutEvent(b"bad-3", json.dumps({"event_id": "e3", "product_id": "bad-3", "title": "x" * 5000, "updated_at": "2026-01-01T00:00:00Z"}).encode())]
        stream = products + resend + bad + [delete]
        expected_tags, expected_dlq = len(stream) - len(bad), len(bad)
        sent_at: dict[str, float] = {}
        for ev in stream:
            try:
                sent_at[json.loads(ev.value)["event_id"]] = 0.0
            except (ValueError, KeyError):
                pass

        async def run() -> dict:
            got: list = []
            dlq: list = []
            latencies: list[float] = []
            bar = tqdm(total=expected_tags + expected_dlq, desc="tagged", unit="ev", dynamic_ncols=True)

            def mark(ev):
                try:
                    sent_at[json.loads(ev.value)["event_id"]] = time.time()
                except (ValueError, KeyError):
                    pass
                return ev

            async def consume(topic: str, sink: list):
                async for r in read_topic(broker.url, topic):
                    sink.append(r)
                    if topic == "product-tags" and r.value is not None and r.value["source_event_id"] in sent_at:
                        latencies.append(time.time() - sent_at[r.value["source_event_id"]])
                    bar.update(1)
                    bar.set_postfix(tags=len(got), dead_letters=len(dlq))

            consumers = [asyncio.create_task(consume("product-tags", got)), asyncio.create_task(consume("product-tags.dlq", dlq))]
            t0 = time.time()
            await produce(broker.url, "product-updates", (mark(e) for e in products), rate)
            await asyncio.sleep(2.0)  # let the first pass be cached before re-sending
            await produce(broker.url, "product-updates", (mark(e) for e in resend + bad + [delete]), rate)
            # wait for every output, but give up after 60 s without any new message
            last_count, last_change = -1, time.time()
            while len(got) < expected_tags or len(dlq) < expected_dlq:
                if len(got) + len(dlq) != last_count:
                    last_count, last_change = len(got) + len(dlq), time.time()
                elif time.time() - last_change > 60:
                    break
                await asyncio.sleep(0.2)
            elapsed = last_change - t0  # to the last output message
            for c in consumers:
                c.cancel()
            await asyncio.gather(*consumers, return_exceptions=True)
            bar.close()
            return {"got": got, "dlq": dlq, "latencies": latencies, "elapsed": elapsed}

        res = asyncio.run(run())
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{web_port}/metrics", timeout=5).read().decode()
        hits, misses = _metric(metrics, "tagstream_cache_hits_total"), _metric(metrics, "tagstream_cache_misses_total")
        lat = np.array(res["latencies"]) if res["latencies"] else np.array([float("nan")])
        tags = [r for r in res["got"] if r.value is not None]
        echo("\nsample tag events:")
        for r in tags[:5]:
            shown = ", ".join(f"{t['tag']} ({t['score']:.2f})" for t in r.value["tags"][:5]) or "(no tag reached its threshold)"
            echo(f"  {r.key} v{r.value['model_version']}{' [cached]' if r.value['cached'] else ''}: {shown}")
        tomb = [r for r in res["got"] if r.value is None]
        if tomb:
            echo(f"  {tomb[0].key}: tombstone (deleted)")
        for r in res["dlq"][:3]:
            echo(f"  dead letter [{r.value['stage']}]: {r.value['error'][:100]}")
        summary = {
            "events_sent": len(stream),
            "tag_events": len(tags),
            "tombstones": len(tomb),
            "dead_letters": len(res["dlq"]),
            "events_per_s": len(stream) / res["elapsed"],
            "cache_hit_rate": hits / max(hits + misses, 1),
            "latency_p50_ms": float(np.nanpercentile(lat, 50) * 1000),
            "latency_p99_ms": float(np.nanpercentile(lat, 99) * 1000),
            "complete": len(res["got"]) >= expected_tags and len(res["dlq"]) >= expected_dlq,
        }
        echo("\nsummary:")
        echo(f"  events sent {summary['events_sent']} at ~{rate:g}/s -> {summary['tag_events']} tag events, {summary['tombstones']} tombstone, "
             f"{summary['dead_letters']} dead letters ({'all accounted for' if summary['complete'] else 'INCOMPLETE'})")
        echo(f"  throughput {summary['events_per_s']:.1f} events/s end to end; cache hit rate {summary['cache_hit_rate']:.1%}")
        echo(f"  latency from send to tag event: p50 {summary['latency_p50_ms']:.0f} ms, p99 {summary['latency_p99_ms']:.0f} ms")
        return summary
    finally:
        echo("stopping...")
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        for svc in reversed(started):
            svc.stop()
        echo("stopped worker, triton, redis and broker")
