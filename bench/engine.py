"""The stream benchmark (`python -m bench stream`, `bench/stream_bench.py`): how many product updates per
second the whole stream tags, and how fast, against the model's own ceiling, Triton alone, naive
serving and the stream engine's passthrough, all on the embedded stack and the same texts.

Points (each a backlog drained, unless said otherwise):
  a    the exported model in-process (the served code, `VersionScorer`), batches of 32, all cores
  t    Triton alone: requests of 16 texts from 4 concurrent callers (Triton's best request size here);
       t_request_32 the same at the worker's request size (32)
  b    tagstream end to end with default settings (one worker); also with other settings, two workers
  c    naive serving: one event, one Triton request, one produce acknowledged, in turn
  d    tagstream when every event is a cache hit
  p    a Faust agent that only forwards (the worker's Kafka path without the work)
  raw  an aiokafka consumer/producer loop that only forwards (the broker's and client's ceiling)
  e    latency from send to tag event at 25/50/75 % of b's throughput, with an open-loop producer
d, p and raw drain backlogs `fast_factor` (5) times longer, cycling the same texts: at their rates a
backlog of `events` lasts 0.1-1 s, too short for a steady rate (measured, 3,000 events in 2 rounds: d/p
1.02 and 0.78; 15,000: 0.60 and 0.60).
Rounds are interleaved and each ratio is taken within a round (these machines drift by +-15 %).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tagstream.clients.producer import OutEvent, produce
from tagstream.clients.subscriber import read_topic
from tagstream.core.text import model_text
from tagstream.localstack.process import ManagedProcess
from tagstream.localstack.stack import LocalStack
from tagstream.localstack.worker import settings_env
from tagstream.stream import event_loop
from tagstream.stream.kafka import bootstrap_servers
from tagstream.stream.settings import WorkerSettings, load_settings

Echo = Callable[[str], object]


@dataclass
class Drain:
    events: int
    seconds: float
    events_per_s: float
    cpu_cores: dict[str, float] = field(default_factory=dict)  # cores each process used while draining
    cpu_ms_per_event: dict[str, float] = field(default_factory=dict)  # each process's CPU per event drained
    # the first and last output message's time stamps (Unix seconds), where the drain was read from a topic
    first_at: float = 0.0
    last_at: float = 0.0


#: the name the benchmark exports a blended model's fine-tuned part alone under (point b_unblended)
UNBLENDED_SUFFIX = "_unblended"


@dataclass
class BenchConfig:
    events: int = 3000  # per backlog
    # backlogs of the fast points (d, p, raw) are this many times longer, cycling the same texts: a
    # backlog of `events` drains there in 0.1-1 s, too short a span for a steady rate or CPU per event
    fast_factor: int = 5
    rounds: int = 3
    latency_seconds: float = 20.0
    loads: tuple[float, ...] = (0.25, 0.5, 0.75)
    # token budgets (max length) whose cost b measures side by side: the same model served under
    # `<model>_len<N>` with that budget (point b_len<N>)
    budgets: tuple[int, ...] = ()
    # other model directories served side by side, each under `<model>_<label>` (point b_<label>)
    others: dict[str, str] = field(default_factory=dict)
    # other settings of b, measured side by side to choose the defaults ("_workers": worker processes)
    variants: dict[str, dict[str, object]] = field(
        default_factory=lambda: {
            "b_in_flight_1": {"batches_in_flight": 1},
            "b_in_flight_3": {"batches_in_flight": 3},
            # the defaults measured a second time: the noise floor of a ratio to b within one round
            "b_repeat": {},
            "b_request_16": {"triton_request_items": 16},
            "b_batch_64": {"batch_max": 64},
            "b_two_workers": {"_workers": 2},
            "b_explain_3": {"explain_top_words": 3},
        }
    )


def machine() -> dict[str, Any]:
    import psutil

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = None
    try:
        gpu = (
            subprocess.run(
                ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "gpu": gpu,
        "python": platform.python_version(),
    }


def event_stream(texts: Sequence[str], n: int, tag: str) -> list[OutEvent]:
    """n product updates with the given texts as titles (the same texts in every run and point: the
    cache is emptied before a run that must miss it), and product and event ids unique to `tag`."""
    out = []
    for i in range(n):
        pid = f"{tag}-{i}"
        body = {
            "event_id": f"{tag}-e{i}",
            "product_id": pid,
            "title": texts[i % len(texts)],
            "updated_at": "2026-01-01T00:00:00Z",
        }
        out.append(OutEvent(pid.encode(), json.dumps(body).encode()))
    return out


def _cpu(procs: dict[str, Any]) -> dict[str, float]:
    """CPU seconds of each process and its children (Triton's python stubs), and of this process
    alone (the bench's producer and reader; its children are the servers)."""
    import psutil

    me = psutil.Process().cpu_times()
    out = {"bench (producer, reader)": me.user + me.system}
    for name, p in procs.items():
        total = 0.0
        for q in [p, *p.children(recursive=True)]:
            try:
                t = q.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        out[name] = total
    return out


class Bench:
    def __init__(self, stack: LocalStack, version_dir: Path, texts: Sequence[str], echo: Echo = print):
        self.stack = stack
        self.version_dir = version_dir
        self.texts = list(texts)
        self.echo = echo
        # the loop the workers started here run on (they read the same TAGSTREAM_* environment)
        self.event_loop = event_loop.resolve(load_settings().event_loop)

    # --- helpers ---------------------------------------------------------------------------
    def _topics(self, label: str) -> dict[str, str]:
        run = f"bench-{label}-{uuid.uuid4().hex[:6]}"
        return {"input_topic": f"{run}.in", "output_topic": f"{run}.out", "dlq_topic": f"{run}.dlq", "app_id": run}

    def _processes(self, extra: dict[str, ManagedProcess]) -> dict[str, Any]:
        import psutil

        procs = {"triton": self.stack.triton, "broker": self.stack.broker, "redis": self.stack.redis, **extra}
        out: dict[str, Any] = {}
        for name, p in procs.items():
            if p.proc is not None:
                out[name] = psutil.Process(p.proc.pid)
        return out

    def _send(
        self, topic: str, events: list[OutEvent], rate: float | None = None, sent_at: dict[str, float] | None = None
    ) -> None:
        def timed() -> Iterator[OutEvent]:
            for e in events:
                if sent_at is not None:
                    sent_at[json.loads(e.value or b"{}")["event_id"]] = time.time()
                yield e

        asyncio.run(produce(self.stack.broker.url, topic, timed(), rate))

    def _await_outputs(self, topic: str, n: int, procs: dict[str, Any], timeout: float = 600) -> Drain:
        """Read `topic` until n messages arrived; the rate is taken between the first and the last
        message's timestamps, and CPU over the same span."""
        first: list[float] = []
        cpu0: dict[str, float] = {}
        stamps: list[float] = []

        async def go() -> None:
            async for r in read_topic(self.stack.broker.url, topic):
                stamps.append(r.timestamp_ms / 1000)
                if not first:
                    first.append(time.monotonic())
                    cpu0.update(_cpu(procs))
                if len(stamps) >= n:
                    return

        asyncio.run(asyncio.wait_for(go(), timeout))
        cpu1 = _cpu(procs)
        wall = max(time.monotonic() - first[0], 1e-9)
        span = max(max(stamps) - min(stamps), 1e-9)
        used = {k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1}
        return Drain(
            n,
            span,
            (n - 1) / span,
            {k: round(v / wall, 2) for k, v in used.items()},
            {k: round(1000 * v / n, 3) for k, v in used.items()},
            min(stamps),
            max(stamps),
        )

    async def _kafka_clients(self, topics: dict[str, str], *, auto_commit: bool) -> tuple[Any, Any]:
        """A started consumer of the input topic (in the run's group) and a producer, for the loops
        that bypass the worker."""
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        servers = bootstrap_servers(self.stack.broker.url)
        consumer = AIOKafkaConsumer(
            topics["input_topic"],
            bootstrap_servers=servers,
            group_id=topics["app_id"],
            auto_offset_reset="earliest",
            enable_auto_commit=auto_commit,
            fetch_max_wait_ms=100,
        )
        producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
        await consumer.start()
        await producer.start()
        return consumer, producer

    def empty_cache(self) -> None:
        import redis

        redis.Redis.from_url(self.stack.redis.url).flushdb()

    # --- points ----------------------------------------------------------------------------
    def inprocess(self, batch: int = 32) -> float:
        from tagstream.trainer.triton_backend.model import VersionScorer

        scorer = VersionScorer(self.version_dir, threads=os.cpu_count())
        scorer.scores(self.texts[:batch])  # warm-up
        n, t0 = 0, time.perf_counter()
        while n < len(self.texts):
            scorer.scores(self.texts[n : n + batch])
            n += batch
        return n / (time.perf_counter() - t0)

    def triton_alone(self, request_items: int = 16, concurrency: int = 4) -> float:
        from tagstream.stream.triton_client import TritonInference

        async def go() -> float:
            async with TritonInference.from_settings(
                WorkerSettings(triton_url=self.stack.triton.grpc_url, triton_request_items=request_items)
            ) as c:
                await c.infer(self.texts[:request_items])
                chunks = [self.texts[i : i + request_items] for i in range(0, len(self.texts), request_items)]
                queue: asyncio.Queue[list[str]] = asyncio.Queue()
                for ch in chunks:
                    queue.put_nowait(ch)

                async def caller() -> None:
                    while not queue.empty():
                        await c.infer(queue.get_nowait())

                t0 = time.perf_counter()
                await asyncio.gather(*(caller() for _ in range(concurrency)))
                return sum(len(ch) for ch in chunks) / (time.perf_counter() - t0)

        return asyncio.run(go())

    def stream(
        self, label: str, *, cached_from: list[OutEvent] | None = None, workers: int = 1, **settings: object
    ) -> Drain:
        """Drain a backlog with tagstream worker(s); `cached_from`: events whose content is cached."""
        topics = self._topics(label)
        events = cached_from or event_stream(self.texts, len(self.texts), topics["app_id"])
        if cached_from is None:
            self.empty_cache()
        if cached_from is not None:  # the same content under new event ids: every event a cache hit
            events = [
                OutEvent(e.key, e.value.replace(b'"event_id": "', f'"event_id": "{label}-'.encode()))
                for e in cached_from
                if e.value
            ]
        self._send(topics["input_topic"], events)
        started = [
            self.stack.start_worker(
                f"{topics['app_id']}-{i}", wait_assigned=False, batch_wait_s=0.2, **{**topics, **settings}
            )
            for i in range(workers)
        ]
        try:
            procs = self._processes({f"worker{i + 1}": w for i, w in enumerate(started)})
            return self._await_outputs(topics["output_topic"], len(events), procs)
        finally:
            for w in started:
                w.stop()
            self.stack.workers = [w for w in self.stack.workers if w not in started]

    def forward_faust(self, label: str = "p", n: int | None = None) -> Drain:
        """n events (default: one per text) through the forward-only Faust app."""
        topics = self._topics(label)
        n = n or len(self.texts)
        self._send(topics["input_topic"], event_stream(self.texts, n, topics["app_id"]))
        fwd = _ForwardApp(self.stack.workdir, self.stack.worker_settings(**topics))
        fwd.start()
        try:
            return self._await_outputs(topics["output_topic"], n, self._processes({"forward": fwd}))
        finally:
            fwd.stop()

    def forward_raw(self, label: str = "raw", batch: int = 32, n: int | None = None) -> Drain:
        """n events (default: one per text); the loop runs in this process, on the workers' kind of
        event loop: its CPU is this process's while it drains."""
        topics = self._topics(label)
        n = n or len(self.texts)
        self._send(topics["input_topic"], event_stream(self.texts, n, topics["app_id"]))

        async def go() -> Drain:
            consumer, producer = await self._kafka_clients(topics, auto_commit=False)
            try:
                done, t0, cpu0 = 0, 0.0, 0.0
                while done < n:
                    got = await consumer.getmany(timeout_ms=1000, max_records=batch)
                    msgs = [m for ms in got.values() for m in ms]
                    if not done and msgs:
                        t0, cpu0 = time.perf_counter(), time.process_time()
                    futures = [await producer.send(topics["output_topic"], key=m.key, value=m.value) for m in msgs]
                    await asyncio.gather(*futures)
                    if msgs:
                        await consumer.commit()
                    done += len(msgs)
                wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
                return Drain(
                    n, wall, n / wall, {"raw loop": round(cpu / wall, 2)}, {"raw loop": round(1000 * cpu / n, 3)}
                )
            finally:
                await consumer.stop()
                await producer.stop()

        return event_loop.run(go(), self.event_loop)

    def naive(self, label: str = "c", limit: int = 600) -> float:
        """One event, one Triton request, one acknowledged produce, in turn."""
        from tagstream.stream.triton_client import TritonInference

        topics = self._topics(label)
        n = min(limit, len(self.texts))
        self._send(topics["input_topic"], event_stream(self.texts, n, topics["app_id"]))

        async def go() -> float:
            consumer, producer = await self._kafka_clients(topics, auto_commit=True)
            try:
                async with TritonInference.from_settings(
                    WorkerSettings(triton_url=self.stack.triton.grpc_url)
                ) as tagger:
                    done, t0 = 0, None
                    async for m in consumer:
                        t0 = t0 or time.perf_counter()
                        ev = json.loads(m.value)
                        tags, info = await tagger.tag([model_text(ev["title"])])
                        out = {"product_id": ev["product_id"], "tags": tags[0], "model_version": info.version}
                        await producer.send_and_wait(topics["output_topic"], key=m.key, value=json.dumps(out).encode())
                        done += 1
                        if done >= n:
                            return n / (time.perf_counter() - (t0 or time.perf_counter()))
                return 0.0
            finally:
                await consumer.stop()
                await producer.stop()

        return asyncio.run(go())

    def latency(self, rate: float, seconds: float, label: str) -> dict[str, float]:
        """Open-loop producer at `rate`: latency from send to the tag event (its broker timestamp)."""
        topics = self._topics(label)
        self.empty_cache()
        worker = self.stack.start_worker(topics["app_id"], **topics)
        try:
            n = max(20, int(rate * seconds))
            events = event_stream(self.texts, n, topics["app_id"])
            sent_at: dict[str, float] = {}
            self._send(topics["input_topic"], events, rate=rate, sent_at=sent_at)
            lat: list[float] = []

            async def go() -> None:
                async for r in read_topic(self.stack.broker.url, topics["output_topic"]):
                    if r.value is not None:
                        lat.append(r.timestamp_ms / 1000 - sent_at[r.value["source_event_id"]])
                    if len(lat) >= n:
                        return

            asyncio.run(asyncio.wait_for(go(), 300))
            lat.sort()
            infer = worker.metric("tagstream_inference_seconds_sum") / max(
                worker.metric("tagstream_inference_seconds_count"), 1
            )

            def pct(q: float) -> float:
                return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 1)

            return {
                "rate": round(rate, 1),
                "events": n,
                "p50_ms": pct(0.5),
                "p95_ms": pct(0.95),
                "p99_ms": pct(0.99),
                "mean_batch_inference_ms": round(infer * 1000, 1),
                "latencies_ms": [round(x * 1000, 1) for x in lat],
            }
        finally:
            worker.stop()
            self.stack.workers.remove(worker)


class _ForwardApp(ManagedProcess):
    name = "forward"
    start_timeout = 60.0

    def __init__(self, workdir: Path, settings: dict[str, object]):
        super().__init__(workdir)
        self.settings = {k: v for k, v in settings.items() if not k.startswith("_")}

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.forward_app"]

    def env(self) -> dict[str, str]:
        # `bench` is not installed: the checkout it lies in goes on the path
        path = os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")) if p)
        return {**os.environ, "PYTHONPATH": path, **settings_env(**self.settings)}

    def ready(self) -> bool:
        return self.running


def parse_budgets(text: str) -> tuple[int, ...]:
    """`64,128,256` -> (64, 128, 256); ValueError naming the option otherwise."""
    try:
        budgets = tuple(int(b) for b in text.split(",") if b.strip())
    except ValueError:
        raise ValueError(f"--budgets takes comma-separated numbers of tokens, not {text!r}") from None
    if any(b < 8 for b in budgets):
        raise ValueError(f"--budgets: a budget is at least 8 tokens, not {min(budgets)}")
    return budgets


def parse_others(specs: Sequence[str]) -> dict[str, str]:
    """`LABEL=DIR` options -> {label: dir}; ValueError naming the option otherwise."""
    others: dict[str, str] = {}
    for spec in specs:
        label, _, directory = spec.partition("=")
        if not label.isidentifier() or not Path(directory).is_dir():
            raise ValueError(f"--also takes LABEL=DIR with a model directory, not {spec!r}")
        others[label] = directory
    return others


def read_budget(version_dir: Path, budget: int) -> None:
    """Make an exported version read `budget` tokens: what a budget costs in the stream. Its weights
    were trained with the model's own budget: a probe of cost, not a model to serve."""
    from tagstream.trainer.model import CONFIG_FILE

    cfg = json.loads((version_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    (version_dir / CONFIG_FILE).write_text(json.dumps({**cfg, "max_length": budget}, indent=1), encoding="utf-8")


def run_bench(
    model_dir: Path, texts: Sequence[str], workdir: Path, config: BenchConfig, echo: Echo = print
) -> dict[str, Any]:
    """Export the model, start the local stack, measure every point round after round."""
    from tagstream.trainer.export import export_model
    from tagstream.trainer.model import CONFIG_FILE
    from tagstream.trainer.serving import ServingConfig
    from tagstream.trainer.triton_backend.tfidf_blend import BLEND_FILE

    texts = list(dict.fromkeys(texts))[: config.events]
    fast_n = config.fast_factor * len(texts)  # backlog of d, p and raw
    repo = workdir / "repo"
    serving = ServingConfig()
    _, version_dir = export_model(model_dir, repo, serving=serving)
    beside: dict[str, str] = {}  # point -> the model name it serves, beside b's model

    def serve_beside(point: str, name: str, source: Path, **export: Any) -> Path:
        beside[point] = name
        return export_model(source, repo, serving=serving.model_copy(update={"model_name": name}), **export)[1]

    if (model_dir / BLEND_FILE).is_file():  # b without the blend, side by side: its cost
        serve_beside("b_unblended", f"{serving.model_name}{UNBLENDED_SUFFIX}", model_dir, blend=False)
    own_budget = json.loads((version_dir / CONFIG_FILE).read_text(encoding="utf-8"))["max_length"]
    for budget in (b for b in config.budgets if b != own_budget):
        read_budget(serve_beside(f"b_len{budget}", f"{serving.model_name}_len{budget}", model_dir), budget)
    for label, other_dir in config.others.items():
        serve_beside(f"b_{label}", f"{serving.model_name}_{label}", Path(other_dir))
    config = replace(config, variants={**config.variants, **{p: {"model_name": n} for p, n in beside.items()}})
    rounds: list[dict[str, Any]] = []
    with LocalStack(workdir, repo, extra_models=tuple(beside.values())) as stack:
        # what b ran on (`python -m bench capacity` simulates it to check itself against the measurements)
        deployment = {
            "workers": 1,
            "partitions": stack.partitions,
            "triton_instances": serving.instances(),
            "triton_instance_kind": serving.instance_kind,
        }
        bench = Bench(stack, version_dir, texts, echo)
        for r in range(config.rounds):
            echo(f"round {r + 1}/{config.rounds}")
            got: dict[str, Any] = {}
            got["a"] = bench.inprocess()
            got["t"] = bench.triton_alone()
            got["t_request_32"] = bench.triton_alone(request_items=32)
            b = bench.stream(f"b{r}")
            got["b"] = b.events_per_s
            got["b_cpu_cores"] = b.cpu_cores
            for name, settings in config.variants.items():
                s = dict(settings)
                got[name] = bench.stream(f"{name}{r}", workers=int(str(s.pop("_workers", 1))), **s).events_per_s
            got["c"] = bench.naive(f"c{r}")
            cached = event_stream(texts, fast_n, f"b{r}-cached")  # the same texts, cycled: all cached
            # fills the cache as a worker with default settings does (b_explain_3 left explained entries)
            bench.empty_cache()
            bench.stream(f"warm{r}", cached_from=cached[: len(texts)])  # each text once
            # the event loop's own effect, on the CPU-bound path: d on the other loop, first in every
            # other round (the order within a pair is not left to favour either)
            other: event_loop.EventLoopKind = "asyncio" if bench.event_loop == "uvloop" else "uvloop"
            loops = {"d": {}, f"d_{other}": {"event_loop": other}} if event_loop.available(other) else {"d": {}}
            drains = {
                name: bench.stream(f"{name}{r}", cached_from=cached, **kw)
                for name, kw in (reversed(loops.items()) if r % 2 else loops.items())
            }
            d = drains.pop("d")
            got.update({name: x.events_per_s for name, x in drains.items()})
            p = bench.forward_faust(f"p{r}", n=fast_n)
            raw = bench.forward_raw(f"raw{r}", n=fast_n)
            got["d"], got["p"], got["raw"] = d.events_per_s, p.events_per_s, raw.events_per_s
            got["cpu_ms_per_event"] = {
                "b: worker": b.cpu_ms_per_event.get("worker1"),
                "b: triton": b.cpu_ms_per_event.get("triton"),
                "d: worker": d.cpu_ms_per_event.get("worker1"),
                **{f"{name}: worker": x.cpu_ms_per_event.get("worker1") for name, x in drains.items()},
                "p: forward app": p.cpu_ms_per_event.get("forward"),
                "raw: loop": raw.cpu_ms_per_event["raw loop"],
            }
            echo("  " + "  ".join(f"{k} {v:.0f}" for k, v in got.items() if isinstance(v, float)))
            rounds.append(got)
        latency = [
            bench.latency(load * statistics.median(r["b"] for r in rounds), config.latency_seconds, f"e{i}")
            for i, load in enumerate(config.loads)
        ]
    backlogs = {"model path (a, t, b)": len(texts), "fast path (d, p, raw)": fast_n}
    return summarize(rounds, latency, config, bench.event_loop, deployment, backlogs)


def summarize(
    rounds: list[dict[str, Any]],
    latency: list[dict[str, Any]],
    config: BenchConfig,
    loop: str,
    deployment: dict[str, Any],
    backlogs: dict[str, int],
) -> dict[str, Any]:
    points = [k for k, v in rounds[0].items() if isinstance(v, float)]
    med = {k: round(statistics.median(r[k] for r in rounds), 1) for k in points}
    ratio_pairs = {
        "b/a": ("b", "a"),
        "b/t": ("b", "t"),
        "b/t_request_32": ("b", "t_request_32"),
        "b/c": ("b", "c"),
        "d/p": ("d", "p"),
        "p/raw": ("p", "raw"),
        **{f"{v}/b": (v, "b") for v in config.variants},
        **{f"{k}/d": (k, "d") for k in points if k.startswith("d_")},
    }
    ratios = {}
    for name, (x, y) in ratio_pairs.items():
        per = [r[x] / r[y] for r in rounds]
        ratios[name] = {"median": round(statistics.median(per), 3), "rounds": [round(v, 3) for v in per]}
    return {
        "machine": machine(),
        "config": asdict(config),
        "deployment": deployment,
        "backlog_events": backlogs,  # events per drained backlog
        "event_loop": loop,  # of the workers, the forward app and the raw loop
        "events_per_s": med,
        "ratios": ratios,
        "cpu_cores_during_b": rounds[len(rounds) // 2]["b_cpu_cores"],
        # CPU time per event (ms) of the process doing the work in each point, median of the rounds
        "cpu_ms_per_event": {
            k: round(statistics.median(r["cpu_ms_per_event"][k] or 0.0 for r in rounds), 3)
            for k in rounds[0]["cpu_ms_per_event"]
        },
        "latency": latency,
        "rounds": [{k: v for k, v in r.items() if k != "b_cpu_cores"} for r in rounds],
    }


def table(result: dict[str, Any]) -> str:
    names = {
        "a": "model in-process, batches of 32",
        "t": "Triton alone, requests of 16, 4 concurrent",
        "t_request_32": "t at the worker's request size (32)",
        "b": "tagstream end to end, defaults",
        "b_unblended": "b with the fine-tuned model alone (b serves its blend with TF-IDF)",
        **{
            k: f"b with a budget of {k.removeprefix('b_len')} tokens"
            for k in result["events_per_s"]
            if k.startswith("b_len")
        },
        "c": "naive: one event, one request, one produce",
        "d": "tagstream, every event a cache hit",
        "d_asyncio": "d on asyncio's own event loop",
        "d_uvloop": "d on uvloop",
        "p": "Faust agent that only forwards",
        "raw": "aiokafka loop that only forwards",
    }
    lines = ["| point | events/s |", "|---|---|"]
    for k, v in result["events_per_s"].items():
        lines.append(f"| {k}: {names.get(k, k.replace('_', ' '))} | {v:,.0f} |")
    lines += ["", "| ratio (within each round) | median | per round |", "|---|---|---|"]
    for k, v in result["ratios"].items():
        lines.append(f"| {k} | {v['median']:.2f} | {', '.join(f'{x:.2f}' for x in v['rounds'])} |")
    lines += ["", "| CPU per event (process, point) | ms |", "|---|---|"]
    for k, v in result.get("cpu_ms_per_event", {}).items():
        lines.append(f"| {k} | {v:.3f} |")
    lines += ["", "| load | events/s | p50 | p95 | p99 | mean batch inference |", "|---|---|---|---|---|---|"]
    for e in result["latency"]:
        lines.append(
            f"| {e['rate'] / max(result['events_per_s']['b'], 1e-9):.0%} of b | {e['rate']:.0f} | "
            f"{e['p50_ms']:.0f} ms | {e['p95_ms']:.0f} ms | {e['p99_ms']:.0f} ms | "
            f"{e['mean_batch_inference_ms']:.0f} ms |"
        )
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5), dpi=110)
    eps = result["events_per_s"]
    names = list(eps)[::-1]  # first point at the top
    ax1.barh(names, [eps[n] for n in names], color="tab:blue")
    ax1.set_xscale("log")  # from naive serving (tens) to the raw loop (tens of thousands)
    ax1.set_xlabel("events/s (median of rounds, log scale)")
    ax1.set_title("throughput")
    for i, n in enumerate(names):
        ax1.text(eps[n], i, f" {eps[n]:,.0f}", va="center", fontsize=7)
    for e in result["latency"]:
        lat = e["latencies_ms"]
        ax2.plot(lat, [i / len(lat) for i in range(len(lat))], label=f"{e['rate']:.0f} ev/s")
    ax2.set_xlabel("send -> tag event (ms)")
    ax2.set_ylabel("share of events")
    ax2.set_title("latency CDF (open-loop load)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
