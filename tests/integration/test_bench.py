"""`python -m bench stream` as a smoke test on a tiny stream: every point is measured and reported; no
thresholds are asserted (benchmarks print numbers, tests do not time them). Its results feed
`python -m bench capacity`."""

import json

import pytest

from tests.conftest import bench_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_runs_every_point_on_a_tiny_stream(tiny_model, tmp_path):
    out = tmp_path / "bench.json"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    res = bench_cli(
        "stream",
        "--model",
        str(tiny_model),
        "--events",
        # 50 gave Triton's process, and 100 on a busy machine gave the worker, no measurable CPU (10 ms
        # clock ticks) in b's drain, whose CPU is counted from its first tag event to its last
        "200",
        "--fast-factor",
        "2",
        "--latency-seconds",
        "2",
        "--out",
        str(out),
        "--workdir",
        str(tmp_path / "work"),
        "--budgets",
        "64,32",  # 64 is the model's own (b); 32 is served under a second name
        "--also",
        f"twin={tiny_model}",
        timeout=900,
        cwd=cwd,
    )
    result = json.loads(out.read_text())
    assert {"a", "t", "b", "c", "d", "p", "raw"} <= set(result["events_per_s"])
    assert all(v > 0 for v in result["events_per_s"].values())
    assert {"b/a", "b/t", "d/p", "p/raw"} <= set(result["ratios"])
    # the same cached backlog on the other event loop, side by side with d
    assert result["event_loop"] == "uvloop" and result["events_per_s"]["d_asyncio"] > 0
    assert "d_asyncio/d" in result["ratios"]
    # another budget and another model directory, each served under its own name beside b
    assert result["events_per_s"]["b_len32"] > 0 and result["events_per_s"]["b_twin"] > 0
    assert "b_len64" not in result["events_per_s"] and {"b_len32/b", "b_twin/b"} <= set(result["ratios"])
    assert "| b_len32: b with a budget of 32 tokens |" in res.stdout
    cpu = result["cpu_ms_per_event"]
    assert {"b: worker", "d: worker", "p: forward app", "raw: loop"} <= set(cpu) and min(cpu.values()) >= 0
    assert result["latency"][0]["events"] >= 20 and result["machine"]["cores"] >= 1
    assert out.with_suffix(".png").is_file() and "| b: tagstream end to end" in res.stdout
    assert not list(cwd.iterdir()), "the bench left files in the working directory (Faust data directories?)"
    # the fast points drain longer backlogs (the same texts, cycled) for a steady rate
    assert result["backlog_events"] == {"model path (a, t, b)": 200, "fast path (d, p, raw)": 400}
    assert result["deployment"]["workers"] == 1 and result["deployment"]["triton_instances"] >= 1
    bad = bench_cli("stream", "--model", str(tiny_model), "--budgets", "64,lots", cwd=cwd, check=False)
    assert (
        bad.returncode == 2
        and bad.stderr.strip() == "error: --budgets takes comma-separated numbers of tokens, not '64,lots'"
    )
    # the results are what `python -m bench capacity` plans from
    plan = bench_cli("capacity", "--bench", str(out), "--catalogue", "20000", "--live-seconds", "10", cwd=cwd)
    assert "plan: " in plan.stdout and f"measured {result['events_per_s']['b']:,.0f} events/s" in plan.stdout
