"""What the study takes from a benchmark's results besides the cost model."""

import pytest

from bench.capacity.plan import Deployment, Workload
from bench.capacity.study import StudyOptions, bench_deployment, run_study
from tests.conftest import ROOT

BENCH = ROOT / "bench" / "results" / "stream_bench.json"


def test_the_benchmarks_recorded_deployment_is_used():
    bench = {"deployment": {"workers": 1, "partitions": 6, "triton_instances": 3, "triton_instance_kind": "cpu"}}
    assert bench_deployment(bench) == Deployment(partitions=6, workers=1, triton_instances=3)


@pytest.mark.parametrize(("machine", "instances"), [({"cores": 2}, 2), ({"cores": 16}, 4), ({}, 1), (None, 1)])
def test_older_results_fall_back_to_the_exports_default_for_that_machine(machine, instances):
    """Results from before the deployment was recorded: one CPU instance per core, at most 4."""
    bench = {} if machine is None else {"machine": machine}
    assert bench_deployment(bench) == Deployment(partitions=4, workers=1, triton_instances=instances)
    bench["deployment"] = {"workers": 5, "partitions": 2, "triton_instances": 1}  # unusable: the fallback
    assert bench_deployment(bench).workers == 1


def test_a_triton_rate_of_another_machine_changes_the_plan_not_the_check_against_the_benchmark():
    """`--triton-items-per-s` (say a GPU's) sizes the plan; the simulation is still checked against the
    benchmark on the costs the benchmark measured, and a very slow rate does not break the check."""
    work = Workload(catalogue=2_000, backfill_hours=1)
    mute = lambda _: None  # noqa: E731
    base = run_study(BENCH, work, StudyOptions(live_seconds=20), echo=mute)
    for rate in (2_000.0, 0.5):
        other = run_study(BENCH, work, StudyOptions(triton_items_per_s=rate, live_seconds=20), echo=mute)
        assert other["cost_model"]["triton_ms_per_item"] == pytest.approx(1000 / rate)
        assert other["drain_check"] == base["drain_check"] and other["validation"] == base["validation"]
        bench_case = "bench machine, live peak"
        assert other["scenarios"][bench_case]["result"] == base["scenarios"][bench_case]["result"]
    assert base["drain_check"]["simulated_per_s"] > 100
