"""`python -m bench capacity`: a plan and its simulation from a benchmark's results, written as JSON and a
plot; bad input is one line and exit code 2."""

import json

import pytest

from tests.conftest import ROOT, bench_cli
from tests.unit.cli.test_errors import one_line_error

BENCH = str(ROOT / "bench" / "results" / "stream_bench.json")


def test_plan_and_simulation_of_a_small_catalogue(tmp_path):
    out = tmp_path / "study" / "capacity.json"
    res = bench_cli(
        "capacity", "--bench", BENCH, "--catalogue", "200000", "--peak-factor", "2", "--live-seconds", "30",
        "--out", str(out),
    )  # fmt: skip
    assert "plan: " in res.stdout and "backfill --rate 56" in res.stdout, res.stdout
    assert "| plan, backfill at --rate + live peak |" in res.stdout
    study = json.loads(out.read_text())
    assert study["workload"]["catalogue"] == 200_000 and study["workload"]["peak_factor"] == 2
    assert study["validation"] and {"measured", "simulated"} <= set(study["validation"][0])
    at_rate = study["scenarios"]["plan, backfill at --rate + live peak"]["result"]
    assert at_rate["backfill_done"] == 200_000 and at_rate["backfill_finished_s"] is not None
    assert out.with_suffix(".png").stat().st_size > 10_000


def test_plan_only_writes_no_plot(tmp_path):
    out = tmp_path / "plan.json"
    res = bench_cli("capacity", "--bench", BENCH, "--no-simulate", "--batches-in-flight", "4", "--out", str(out))
    assert "simulating" not in res.stderr and "| scenario |" not in res.stdout
    study = json.loads(out.read_text())
    assert study["plan"]["deployment"]["batching"]["batches_in_flight"] == 4 and not study["scenarios"]
    assert not out.with_suffix(".png").exists()


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--bench", "nope.json"], ["cannot read the benchmark results nope.json"]),
        (["--bench", str(ROOT / "README.md")], ["is not JSON"]),
        (["--bench", BENCH, "--change-per-hour", "2"], ["--change-per-hour", "less than or equal to 1"]),
        (["--bench", BENCH, "--catalogue", "0"], ["--catalogue", "greater than 0"]),
        (["--bench", BENCH, "--target-utilisation", "0"], ["--target-utilisation"]),
        (["--bench", BENCH, "--batches-in-flight", "0"], ["--batches-in-flight"]),
        (["--bench", BENCH, "--triton-items-per-s", "-3"], ["--triton-items-per-s"]),
    ],
)
def test_bad_input_is_one_line(args, needles):
    one_line_error(bench_cli("capacity", "--no-simulate", *args, check=False), *needles)
