"""What the study takes from a benchmark's results besides the cost model."""

import pytest

from tagstream.capacity.plan import Deployment
from tagstream.capacity.study import bench_deployment


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
