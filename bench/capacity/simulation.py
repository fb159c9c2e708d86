"""A discrete-event simulation (simpy) of the stream, to check a deployment before building it.

What is modelled, at the grain of the worker's micro-batches:

- partitions: FIFO queues. Live updates arrive as a Poisson stream on random partitions; a backfill
  arrives at its `--rate` spread evenly over them (in small chunks, so 10 M events stay cheap);
- a worker per group of partitions, as `stream/app.py` runs: Faust's `noack_take(batch_max, within=
  batch_wait_s)` yields when the batch is full or the wait is over (the timer starts when the agent asks
  for the next batch), at most `batches_in_flight` batches are unfinished, the worker's own CPU (one
  core, measured per event on the cache and model paths) is spent per batch, the misses go to Triton in
  requests of `request_items`, and batches finish in the order they were taken;
- Triton: one queue of requests and `triton_instances` instances; a free instance merges the queued
  requests up to `triton_merge_items` items (the dynamic batcher's largest preferred size) and is busy for
  `triton_ms_per_execution + items x triton_ms_per_item`.

Not modelled: the broker and Redis (0.04 and ~0 cores in the benchmark), network time, rebalances,
and cores shared between the parts (each worker and instance has its own core here). A live event's
latency is from its arrival in the partition to the end of its batch.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy
from pydantic import BaseModel, Field, NonNegativeFloat, NonNegativeInt, PositiveFloat

from bench.capacity.plan import CostModel, Deployment

_LIVE_HIT, _LIVE_MISS, _BACKFILL = 0, 1, 2
#: Backfill events per partition per chunk that the producer aims for (at most one chunk per 0.1 s).
_CHUNK = 16


class Traffic(BaseModel):
    """Live updates for `duration_s` seconds, and optionally a backfill of `backfill_events` sent at
    `backfill_rate` events/s from `backfill_start_s` on."""

    live_per_s: NonNegativeFloat
    live_cache_hit: float = Field(0.0, ge=0, le=1)
    duration_s: PositiveFloat
    backfill_events: NonNegativeInt = 0
    backfill_rate: PositiveFloat = 1.0
    backfill_start_s: NonNegativeFloat = 0.0


class SimResult(BaseModel):
    simulated_s: float
    live_arrived: int
    live_events: int  # finished within the simulated time
    live_unfinished: int  # still queued or in flight at the end
    live_p50_ms: float | None
    live_p95_ms: float | None
    live_p99_ms: float | None
    live_max_ms: float | None
    backfill_done: int
    backfill_finished_s: float | None  # from the backfill's start to its last event done; None: not within the time
    max_backlog: int  # events waiting in the partitions, at the worst sample
    triton_utilisation: float
    worker_utilisation: float
    # per sample time: events waiting, and the p99 of the live events finished since the last sample
    timeline: list[tuple[float, int, float | None]]


@dataclass
class _Partition:
    chunks: deque[list[Any]] = field(default_factory=deque)  # [arrival_s, count, kind]
    size: int = 0

    def push(self, at: float, count: int, kind: int) -> None:
        self.chunks.append([at, count, kind])
        self.size += count


class _Triton:
    """One request queue, `instances` instances; each merges queued requests up to `merge_items` items."""

    def __init__(self, env: simpy.Environment, cost: CostModel, dep: Deployment):
        self.env, self.cost, self.merge_items = env, cost, dep.batching.triton_merge_items
        self.queue: deque[tuple[int, simpy.Event]] = deque()
        self.idle: list[simpy.Event] = []
        self.busy_s = 0.0
        for _ in range(dep.triton_instances):
            env.process(self._instance())

    def submit(self, items: int) -> simpy.Event:
        done = self.env.event()
        self.queue.append((items, done))
        if self.idle:
            self.idle.pop().succeed()
        return done

    def _instance(self) -> Generator[simpy.Event, Any, None]:
        while True:
            if not self.queue:
                wake = self.env.event()
                self.idle.append(wake)
                yield wake
                continue
            items, done = self.queue.popleft()
            merged = [done]
            while self.queue and items + self.queue[0][0] <= self.merge_items:
                more, d = self.queue.popleft()
                items += more
                merged.append(d)
            busy = self.cost.triton_ms_execution(items) / 1000.0
            self.busy_s += busy
            yield self.env.timeout(busy)
            for d in merged:
                d.succeed()


class _Worker:
    def __init__(self, sim: _Sim, partitions: list[_Partition]):
        self.sim, self.env, self.batching, self.parts = sim, sim.env, sim.dep.batching, partitions
        self.waiting: simpy.Event | None = None  # the take loop waits for arrivals on this
        self.core_free_at = 0.0
        self.busy_s = 0.0
        self.slots = simpy.Resource(self.env, capacity=self.batching.batches_in_flight)
        self.order: deque[tuple[list[list[Any]], simpy.Event, Any]] = deque()
        self.order_wait: simpy.Event | None = None
        self.env.process(self._take_loop())
        self.env.process(self._finisher())

    def notify(self) -> None:
        if self.waiting is not None and not self.waiting.triggered:
            self.waiting.succeed()

    def available(self) -> int:
        return sum(p.size for p in self.parts)

    def _take(self, n: int) -> list[list[Any]]:
        """Up to n events, oldest partition head first."""
        got: list[list[Any]] = []
        while n > 0:
            heads = [p for p in self.parts if p.chunks]
            if not heads:
                break
            p = min(heads, key=lambda q: q.chunks[0][0])
            head = p.chunks[0]
            k = min(head[1], n)
            if k == head[1]:
                p.chunks.popleft()
            else:
                head[1] -= k
            p.size -= k
            n -= k
            got.append([head[0], k, head[2]])
        return got

    def _take_loop(self) -> Generator[simpy.Event, Any, None]:
        env, b = self.env, self.batching
        while True:
            deadline = env.now + b.batch_wait_s
            while self.available() < b.batch_max and env.now < deadline:
                self.waiting = env.event()
                yield self.waiting | env.timeout(deadline - env.now)
            self.waiting = None
            if not self.available():
                continue  # an empty buffer at the deadline: Faust waits another `within`
            chunks = self._take(b.batch_max)
            slot = self.slots.request()
            done = env.event()
            self.order.append((chunks, done, slot))  # finished in the order taken
            if self.order_wait is not None and not self.order_wait.triggered:
                self.order_wait.succeed()
            yield slot  # at most batches_in_flight unfinished (the generator waits meanwhile)
            env.process(self._batch(chunks, done))

    def _batch(self, chunks: list[list[Any]], done: simpy.Event) -> Generator[simpy.Event, Any, None]:
        env, cost = self.env, self.sim.cost
        hits = sum(c[1] for c in chunks if c[2] == _LIVE_HIT)
        misses = sum(c[1] for c in chunks) - hits
        cpu = (hits * cost.worker_ms_cached + misses * cost.worker_ms_model) / 1000.0
        start = max(env.now, self.core_free_at)  # one core: batches in flight queue for it
        self.core_free_at = start + cpu
        self.busy_s += cpu
        yield env.timeout(self.core_free_at - env.now)
        step = self.batching.request_items
        requests = [self.sim.triton.submit(min(step, misses - i)) for i in range(0, misses, step)]
        if requests:
            yield env.all_of(requests)
        done.succeed()

    def _finisher(self) -> Generator[simpy.Event, Any, None]:
        while True:
            if not self.order:
                self.order_wait = self.env.event()
                yield self.order_wait
                continue
            chunks, done, slot = self.order[0]
            yield done
            self.order.popleft()
            self.slots.release(slot)
            self.sim.finished(chunks)


class _Sim:
    def __init__(self, cost: CostModel, dep: Deployment, traffic: Traffic, seed: int):
        self.env = simpy.Environment()
        self.cost, self.dep, self.traffic = cost, dep, traffic
        self.rng = random.Random(seed)
        self.parts = [_Partition() for _ in range(dep.partitions)]
        # each worker owns every `workers`-th partition: equal shares (arrivals are spread evenly or at random)
        self.workers = [_Worker(self, self.parts[w :: dep.workers]) for w in range(dep.workers)]
        self.owner = [self.workers[p % dep.workers] for p in range(dep.partitions)]
        self.triton = _Triton(self.env, cost, dep)
        self.live_done: list[tuple[float, float]] = []  # (finished at, latency s)
        self.live_arrived = 0
        self.backfill_done = 0
        self.backfill_last = 0.0
        if traffic.live_per_s > 0:
            self.env.process(self._live())
        if traffic.backfill_events:
            self.env.process(self._backfill())

    def finished(self, chunks: list[list[Any]]) -> None:
        now = self.env.now
        for at, count, kind in chunks:
            if kind == _BACKFILL:
                self.backfill_done += count
                self.backfill_last = now
            else:
                self.live_done.append((now, now - at))

    def _live(self) -> Generator[simpy.Event, Any, None]:
        t = self.traffic
        while True:
            yield self.env.timeout(self.rng.expovariate(t.live_per_s))
            p = self.rng.randrange(len(self.parts))
            self.live_arrived += 1
            self.parts[p].push(self.env.now, 1, _LIVE_HIT if self.rng.random() < t.live_cache_hit else _LIVE_MISS)
            self.owner[p].notify()

    def _backfill(self) -> Generator[simpy.Event, Any, None]:
        t, n_parts = self.traffic, len(self.parts)
        yield self.env.timeout(t.backfill_start_s)
        tick = min(0.1, n_parts * _CHUNK / t.backfill_rate)
        sent, owed, p = 0, 0.0, 0
        while sent < t.backfill_events:
            owed += t.backfill_rate * tick
            n = min(int(owed), t.backfill_events - sent)
            owed -= n
            sent += n
            # spread evenly, continuing round robin where the last tick stopped
            base, extra = divmod(n, n_parts)
            for i in range(n_parts):
                k = base + (1 if i < extra else 0)
                if k:
                    q = (p + i) % n_parts
                    self.parts[q].push(self.env.now, k, _BACKFILL)
                    self.owner[q].notify()
            p = (p + extra) % n_parts
            yield self.env.timeout(tick)

    def run(self, samples: int) -> SimResult:
        t = self.traffic
        step = t.duration_s / samples
        timeline: list[tuple[float, int, float | None]] = []
        seen = 0
        for i in range(1, samples + 1):
            self.env.run(until=i * step)
            window = [lat for _, lat in self.live_done[seen:]]
            seen = len(self.live_done)
            p99 = float(np.percentile(window, 99)) * 1000 if window else None
            timeline.append((round(i * step, 3), sum(p.size for p in self.parts), p99))
        lat = np.array([x for _, x in self.live_done]) * 1000.0
        waiting_live = sum(c[1] for p in self.parts for c in p.chunks if c[2] != _BACKFILL)
        in_flight_live = sum(
            c[1] for w in self.workers for chunks, _, _ in w.order for c in chunks if c[2] != _BACKFILL
        )
        pct = (lambda q: float(np.percentile(lat, q))) if len(lat) else (lambda q: None)
        finished = (
            self.backfill_last - t.backfill_start_s
            if t.backfill_events and self.backfill_done == t.backfill_events
            else None
        )
        return SimResult(
            simulated_s=t.duration_s,
            live_arrived=self.live_arrived,
            live_events=len(lat),
            live_unfinished=waiting_live + in_flight_live,
            live_p50_ms=pct(50),
            live_p95_ms=pct(95),
            live_p99_ms=pct(99),
            live_max_ms=float(lat.max()) if len(lat) else None,
            backfill_done=self.backfill_done,
            backfill_finished_s=finished,
            max_backlog=max((n for _, n, _ in timeline), default=0),
            triton_utilisation=self.triton.busy_s / (self.dep.triton_instances * t.duration_s),
            worker_utilisation=sum(w.busy_s for w in self.workers) / (self.dep.workers * t.duration_s),
            timeline=timeline,
        )


def simulate(cost: CostModel, dep: Deployment, traffic: Traffic, *, seed: int = 0, samples: int = 100) -> SimResult:
    """Run the stream for `traffic.duration_s` simulated seconds (deterministic for a seed)."""
    if samples < 1 or not math.isfinite(traffic.duration_s):
        raise ValueError("samples must be >= 1 and the duration finite")
    return _Sim(cost, dep, traffic, seed).run(samples)
