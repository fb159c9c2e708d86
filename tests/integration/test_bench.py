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
        "100",  # 50 gave Triton's process no measurable CPU (10 ms clock ticks) in b's drain
        "--fast-factor",
        "2",
        "--latency-seconds",
        "2",
        "--out",
        str(out),
        "--workdir",
        str(tmp_path / "work"),
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
    cpu = result["cpu_ms_per_event"]
    assert {"b: worker", "d: worker", "p: forward app", "raw: loop"} <= set(cpu) and min(cpu.values()) >= 0
    assert result["latency"][0]["events"] >= 20 and result["machine"]["cores"] >= 1
    assert out.with_suffix(".png").is_file() and "| b: tagstream end to end" in res.stdout
    assert not list(cwd.iterdir()), "the bench left files in the working directory (Faust data directories?)"
    # the fast points drain longer backlogs (the same texts, cycled) for a steady rate
    assert result["backlog_events"] == {"model path (a, t, b)": 100, "fast path (d, p, raw)": 200}
    assert result["deployment"]["workers"] == 1 and result["deployment"]["triton_instances"] >= 1
    # the results are what `python -m bench capacity` plans from
    plan = bench_cli("capacity", "--bench", str(out), "--catalogue", "20000", "--live-seconds", "10", cwd=cwd)
    assert "plan: " in plan.stdout and f"measured {result['events_per_s']['b']:,.0f} events/s" in plan.stdout
