"""The cost model measured by the stream benchmark, the workload of a catalogue, and the deployment
that carries it: sized on paper here, checked by simulation in `simulation.py`.

Units: a "Triton instance" is what `tagstream export` configures on CPU, one model instance with one
torch thread (so about one core). On a GPU an instance is much faster; its rate was not measured by
this project (no GPU machine was lent), so it is an input (`triton_items_per_s`), not a default.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError, model_validator

from tagstream.core.errors import DataError
from tagstream.stream.settings import WorkerSettings
from tagstream.trainer.serving import ServingConfig

_DEFAULTS = WorkerSettings.model_fields
_SERVING = ServingConfig.model_fields


_NOT_BENCH = "is not a stream benchmark's results (from `tagstream bench --out` or bench/stream_bench.py)"


def read_bench(path: Path) -> dict[str, Any]:
    """A stream benchmark's results, as a JSON object; a clear error for anything else."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read the benchmark results {path}: {getattr(e, 'strerror', None) or e}") from e
    try:
        result = json.loads(text)
    except ValueError as e:
        raise DataError(f"{path} is not JSON: {e}") from e
    if not isinstance(result, dict):
        raise DataError(f"{path} {_NOT_BENCH}: it holds a JSON {type(result).__name__}, not an object")
    return result


class CostModel(BaseModel):
    """What one event costs, from one stream benchmark run (`tagstream bench --out F.json` or
    bench/stream_bench.py)."""

    model_config = ConfigDict(frozen=True)

    worker_ms_model: PositiveFloat = Field(description="worker CPU per event that goes to the model (point b)")
    worker_ms_cached: PositiveFloat = Field(description="worker CPU per cache hit (point d)")
    triton_ms_per_item: PositiveFloat = Field(description="Triton instance busy time per item (point b, CPU)")
    triton_ms_per_execution: float = Field(0.0, ge=0, description="fixed time per Triton execution")
    source: str = "given"
    notes: tuple[str, ...] = ()  # what stands in for a measurement the run lacks

    @classmethod
    def from_bench(cls, path: Path, triton_items_per_s: float | None = None) -> CostModel:
        """The cost model of a stream benchmark's JSON. `triton_items_per_s` replaces the measured
        Triton cost by a rate per instance (say a GPU's, measured elsewhere)."""
        return cls.from_results(read_bench(path), path, triton_items_per_s)

    @classmethod
    def from_results(cls, result: dict[str, Any], path: Path, triton_items_per_s: float | None = None) -> CostModel:
        keys = {"worker_ms_model": "b: worker", "worker_ms_cached": "d: worker", "triton_ms_per_item": "b: triton"}
        cpu = result.get("cpu_ms_per_event")
        if not isinstance(cpu, dict):
            raise DataError(f"{path} {_NOT_BENCH}: it has no cpu_ms_per_event object")
        missing = [key for key in keys.values() if key not in cpu]
        if missing:
            raise DataError(f"{path} {_NOT_BENCH}: it has no {', '.join(map(repr, missing))}")
        values = {name: cpu[key] for name, key in keys.items()}
        notes: list[str] = []
        cached = values["worker_ms_cached"]
        if cached is None or (isinstance(cached, int | float) and cached <= 0):
            # a drain too short for the CPU clock (10 ms ticks): d of a tiny `tagstream bench`
            values["worker_ms_cached"] = values["worker_ms_model"]
            notes.append("no worker CPU was measured for d (the cache path; too short a run): the model path's is used")
        if triton_items_per_s:
            values["triton_ms_per_item"] = 1000.0 / triton_items_per_s
        machine = result.get("machine")
        machine = machine if isinstance(machine, dict) else {}
        source = f"{path.name} ({machine.get('cores', '?')} cores, {machine.get('cpu', '?')})"
        try:
            return cls(**values, source=source, notes=tuple(notes))
        except ValidationError as e:
            bad = ", ".join(f"{keys[str(err['loc'][0])]!r} ({err['msg']})" for err in e.errors())
            raise DataError(f"{path}: unusable measurement {bad}") from None

    def triton_ms_execution(self, items: int) -> float:
        """How long one instance is busy with an execution of `items` items."""
        return self.triton_ms_per_execution + items * self.triton_ms_per_item

    def triton_items_per_s(self, items: int = 32) -> float:
        """One instance's throughput on executions of `items` items."""
        return items / self.triton_ms_execution(items) * 1000.0


class Workload(BaseModel):
    """A catalogue's live updates and the backfill after a model refresh."""

    model_config = ConfigDict(frozen=True)

    catalogue: int = Field(10_000_000, gt=0, description="listings in the catalogue")
    change_per_hour: float = Field(0.01, gt=0, le=1, description="share of the listings updated per hour")
    peak_factor: float = Field(3.0, ge=1, description="peak hour's update rate over the average (an assumption)")
    live_cache_hit: float = Field(
        0.0, ge=0, le=1, description="share of live updates whose text the cache already has (0: all go to the model)"
    )
    backfill_hours: float = Field(1.0, gt=0, description="hours within which a full backfill must finish")

    @property
    def live_average_per_s(self) -> float:
        return self.catalogue * self.change_per_hour / 3600.0

    @property
    def live_peak_per_s(self) -> float:
        return self.live_average_per_s * self.peak_factor

    @property
    def backfill_per_s(self) -> float:
        return self.catalogue / (self.backfill_hours * 3600.0)

    def described(self) -> dict[str, float]:
        """The fields and the rates they imply."""
        return {
            **self.model_dump(),
            "live_average_per_s": self.live_average_per_s,
            "live_peak_per_s": self.live_peak_per_s,
            "backfill_per_s": self.backfill_per_s,
        }


class Batching(BaseModel):
    """The worker's batching settings (defaults: the worker's own) and Triton's largest execution."""

    model_config = ConfigDict(frozen=True)

    batch_max: PositiveInt = _DEFAULTS["batch_max"].default
    batch_wait_s: PositiveFloat = _DEFAULTS["batch_wait_s"].default
    request_items: PositiveInt = _DEFAULTS["triton_request_items"].default
    batches_in_flight: PositiveInt = _DEFAULTS["batches_in_flight"].default
    # the largest preferred_batch_size of the exported config.pbtxt: queued requests are merged up to
    # it (Triton executes a batch of a preferred size at once; max_batch_size caps single requests)
    triton_merge_items: PositiveInt = max(_SERVING["preferred_batch_sizes"].default)


class Deployment(BaseModel):
    """Partitions, workers (one core each) and Triton instances."""

    model_config = ConfigDict(frozen=True)

    partitions: PositiveInt
    workers: PositiveInt
    triton_instances: PositiveInt
    batching: Batching = Batching()

    @model_validator(mode="after")
    def _enough_partitions(self) -> Deployment:
        if self.workers > self.partitions:
            raise ValueError(f"{self.workers} workers need at least as many partitions (got {self.partitions})")
        return self


class Plan(BaseModel):
    """A deployment sized for a workload, the backfill rate to use, and the arithmetic behind it."""

    deployment: Deployment
    backfill_rate: float  # `tagstream backfill --rate`
    model_path_per_s: float  # what the model path must carry while a backfill runs at the live peak
    triton_utilisation: float  # expected at that rate
    worker_utilisation: float  # CPU
    worker_ceiling_per_s: float  # one worker's most events/s on the model path: its batches in flight
    workers_for_cpu: int
    workers_for_concurrency: int


def worker_ceiling(cost: CostModel, batching: Batching) -> float:
    """One worker's most events/s on the model path when Triton has a free instance for every request:
    `batches_in_flight` batches, each taking its own CPU and then one request's execution (Little's law)."""
    b = batching
    batch_s = (
        b.batch_max * cost.worker_ms_model + cost.triton_ms_execution(min(b.request_items, b.batch_max))
    ) / 1000.0
    return b.batches_in_flight * b.batch_max / batch_s


def plan(
    cost: CostModel, work: Workload, *, target_utilisation: float = 0.75, batching: Batching | None = None
) -> Plan:
    """Size a deployment for a backfill within `work.backfill_hours` while live updates run at their
    peak. Triton instances at `target_utilisation` of their measured capacity. Workers at that share of
    the larger of two limits: their CPU (one core each) and their concurrency (a worker keeps only
    `batches_in_flight` batches at Triton, so it cannot feed more instances than that). Twice as many
    partitions as workers (room to double the workers without repartitioning), at least 4."""
    if not 0 < target_utilisation <= 1:
        raise ValueError("target_utilisation must be in (0, 1]")
    b = batching or Batching()
    live_model = work.live_peak_per_s * (1 - work.live_cache_hit)
    live_cached = work.live_peak_per_s * work.live_cache_hit
    model_rate = work.backfill_per_s + live_model  # after a refresh every backfilled key misses
    per_instance = cost.triton_items_per_s(min(b.request_items, b.batch_max))
    instances = max(1, math.ceil(model_rate / per_instance / target_utilisation))
    worker_cores = (model_rate * cost.worker_ms_model + live_cached * cost.worker_ms_cached) / 1000.0
    for_cpu = max(1, math.ceil(worker_cores / target_utilisation))
    ceiling = worker_ceiling(cost, b)
    for_concurrency = max(1, math.ceil(model_rate / ceiling / target_utilisation))
    workers = max(for_cpu, for_concurrency)
    deployment = Deployment(partitions=max(4, 2 * workers), workers=workers, triton_instances=instances, batching=b)
    return Plan(
        deployment=deployment,
        backfill_rate=work.backfill_per_s,
        model_path_per_s=model_rate,
        triton_utilisation=model_rate / (per_instance * instances),
        worker_utilisation=worker_cores / workers,
        worker_ceiling_per_s=ceiling,
        workers_for_cpu=for_cpu,
        workers_for_concurrency=for_concurrency,
    )
