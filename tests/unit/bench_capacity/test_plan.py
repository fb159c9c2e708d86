"""The cost model read from a benchmark's results, and the sizing arithmetic."""

import json
import math

import pytest
from pydantic import ValidationError

from bench.capacity.plan import Batching, CostModel, Deployment, Workload, plan, worker_ceiling
from tagstream.core.errors import DataError
from tests.conftest import ROOT

BENCH = ROOT / "bench" / "results" / "stream_bench.json"
COST = CostModel(worker_ms_model=0.4, worker_ms_cached=0.3, triton_ms_per_item=5.0)


def test_the_cost_model_is_the_benchmarks_cpu_per_event():
    cpu = json.loads(BENCH.read_text())["cpu_ms_per_event"]
    cost = CostModel.from_bench(BENCH)
    assert (cost.worker_ms_model, cost.worker_ms_cached, cost.triton_ms_per_item) == (
        cpu["b: worker"],
        cpu["d: worker"],
        cpu["b: triton"],
    )
    assert "cores" in cost.source
    assert CostModel.from_bench(BENCH, triton_items_per_s=2000).triton_ms_per_item == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("not json", "is not JSON"),
        ("[1, 2]", "holds a JSON list"),
        ('{"events_per_s": {}}', "no cpu_ms_per_event"),
        ('{"cpu_ms_per_event": {"b: worker": 0.3}}', "no 'd: worker', 'b: triton'"),
        ('{"cpu_ms_per_event": {"b: worker": null, "d: worker": 0.2, "b: triton": 5}}', "'b: worker'"),
        ('{"cpu_ms_per_event": {"b: worker": 0.3, "d: worker": 0.2, "b: triton": "x"}}', "'b: triton'"),
        (
            '{"cpu_ms_per_event": {"b: worker": 0, "d: worker": 0.2, "b: triton": 5}}',
            "'b: worker' (Input should be greater",
        ),
    ],
)
def test_anything_but_a_benchmarks_results_is_a_clear_error(tmp_path, content, needle):
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(DataError, match=None) as e:
        CostModel.from_bench(path)
    assert needle in str(e.value)


@pytest.mark.parametrize("cached", ["null", "0"])
def test_a_run_too_short_to_measure_the_cache_path_uses_the_model_paths_cost(tmp_path, cached):
    """A tiny `python -m bench stream` can drain its cached events within one 10 ms tick of the CPU clock."""
    path = tmp_path / "r.json"
    path.write_text(f'{{"cpu_ms_per_event": {{"b: worker": 0.3, "d: worker": {cached}, "b: triton": 5}}}}')
    cost = CostModel.from_bench(path)
    assert cost.worker_ms_cached == cost.worker_ms_model == 0.3
    assert len(cost.notes) == 1 and "d (the cache path" in cost.notes[0]
    assert not CostModel.from_bench(BENCH).notes


def test_a_missing_file_or_a_directory(tmp_path):
    with pytest.raises(DataError, match="cannot read the benchmark results"):
        CostModel.from_bench(tmp_path / "nope.json")
    with pytest.raises(DataError, match="Is a directory"):
        CostModel.from_bench(tmp_path)


def test_workload_rates():
    w = Workload(catalogue=10_000_000, change_per_hour=0.01, peak_factor=3, backfill_hours=2)
    assert w.live_average_per_s == pytest.approx(27.78, abs=0.01)
    assert w.live_peak_per_s == pytest.approx(83.33, abs=0.01)
    assert w.backfill_per_s == pytest.approx(1388.9, abs=0.1)
    with pytest.raises(ValidationError):
        Workload(change_per_hour=1.5)
    with pytest.raises(ValidationError):
        Workload(peak_factor=0.5)


def test_a_deployment_needs_a_partition_per_worker():
    Deployment(partitions=3, workers=3, triton_instances=1)
    with pytest.raises(ValidationError, match="at least as many partitions"):
        Deployment(partitions=3, workers=4, triton_instances=1)


def test_worker_ceiling_is_littles_law():
    # two batches of 32 in flight, each 32 x 0.4 ms of CPU then one 32-item execution of 5 ms per item
    assert worker_ceiling(COST, Batching(batch_max=32, request_items=32, batches_in_flight=2)) == pytest.approx(
        2 * 32 / (0.0128 + 0.160)
    )
    # a smaller request runs in parallel with its siblings: the batch waits for one request only
    assert worker_ceiling(COST, Batching(batch_max=32, request_items=16, batches_in_flight=2)) == pytest.approx(
        2 * 32 / (0.0128 + 0.080)
    )


def test_plan_sizes_every_part_for_the_backfill_at_the_live_peak():
    w = Workload(catalogue=10_000_000, change_per_hour=0.01, peak_factor=3, backfill_hours=1)
    p = plan(COST, w, target_utilisation=0.75)
    rate = w.backfill_per_s + w.live_peak_per_s
    assert p.model_path_per_s == pytest.approx(rate)
    assert p.deployment.triton_instances == math.ceil(rate / 200.0 / 0.75)  # 5 ms per item: 200 items/s
    assert p.triton_utilisation <= 0.75
    assert p.workers_for_cpu == math.ceil(rate * 0.4 / 1000 / 0.75)
    assert p.deployment.workers == max(p.workers_for_cpu, p.workers_for_concurrency)
    assert p.deployment.workers * p.worker_ceiling_per_s * 0.75 >= rate
    assert p.deployment.partitions == max(4, 2 * p.deployment.workers)
    assert p.backfill_rate == pytest.approx(w.backfill_per_s)


def test_plan_scales_with_the_catalogue_and_with_batches_in_flight():
    small = plan(COST, Workload(catalogue=1_000_000))
    large = plan(COST, Workload(catalogue=10_000_000))
    assert large.deployment.triton_instances >= 9 * small.deployment.triton_instances
    more_in_flight = plan(COST, Workload(catalogue=10_000_000), batching=Batching(batches_in_flight=4))
    assert more_in_flight.workers_for_concurrency < large.workers_for_concurrency
    assert more_in_flight.deployment.triton_instances == large.deployment.triton_instances


def test_cache_hits_spare_the_model():
    cold = plan(COST, Workload(catalogue=1_000_000, backfill_hours=100, live_cache_hit=0.0))
    warm = plan(COST, Workload(catalogue=1_000_000, backfill_hours=100, live_cache_hit=1.0))
    assert warm.model_path_per_s < cold.model_path_per_s


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_target_utilisation_must_be_a_share(bad):
    with pytest.raises(ValueError, match="target_utilisation"):
        plan(COST, Workload(), target_utilisation=bad)
