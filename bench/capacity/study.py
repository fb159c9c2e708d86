"""The scale study: size a deployment for a workload from a benchmark's cost model, check the
simulation against the latencies that benchmark measured, then simulate the deployment under live
peak traffic and a full backfill, with and without `--rate`. Writes JSON and a plot; prints tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bench.capacity.plan import Batching, CostModel, Deployment, Plan, Workload, plan, read_bench
from bench.capacity.simulation import Traffic, simulate
from tagstream.trainer.serving import default_cpu_instances

Echo = Callable[[str], None]


class StudyOptions(BaseModel):
    """How to plan and what to simulate, besides the workload (`tagstream capacity`'s options)."""

    model_config = ConfigDict(frozen=True)

    triton_items_per_s: float | None = Field(
        None,
        gt=0,
        description="one Triton instance's items/s (say a GPU's, measured there); "
        "default: the benchmark's CPU instance",
    )
    batches_in_flight: int | None = Field(
        None, ge=1, description="the workers' TAGSTREAM_BATCHES_IN_FLIGHT (default: the worker's)"
    )
    target_utilisation: float = Field(
        0.75, gt=0, le=1, description="share of each part's measured capacity to plan for"
    )
    simulate: bool = Field(True, description="check the plan by simulation")
    live_seconds: float = Field(600.0, gt=0, description="simulated seconds of live-only traffic")

    def batching(self) -> Batching:
        return Batching() if self.batches_in_flight is None else Batching(batches_in_flight=self.batches_in_flight)


#: events/s of a backfill without --rate when the benchmark did not measure the raw loop (point "raw")
UNTHROTTLED_FALLBACK = 20_000.0


def bench_deployment(bench: dict[str, Any]) -> Deployment:
    """What the benchmark's point b ran on: recorded in its results; in results from before that was
    recorded, one worker on 4 partitions and the CPU instances `tagstream export` configured by
    default on that machine (one per core, at most 4)."""
    recorded = bench.get("deployment")
    if isinstance(recorded, dict):
        try:
            return Deployment.model_validate(
                {k: recorded.get(k) for k in ("partitions", "workers", "triton_instances")}
            )
        except ValueError:
            pass
    machine = bench.get("machine")
    cores = machine.get("cores") if isinstance(machine, dict) else None
    instances = default_cpu_instances(cores if isinstance(cores, int) else None)
    return Deployment(partitions=4, workers=1, triton_instances=instances)


def validation(
    cost: CostModel, bench: dict[str, Any], dep: Deployment, seconds: float, seed: int
) -> list[dict[str, Any]]:
    """The benchmark's open-loop latency points, simulated on the benchmark's deployment `dep`."""
    rows = []
    for point in bench.get("latency") or []:
        try:
            measured = {q: float(point[f"{q}_ms"]) for q in ("p50", "p95", "p99")}
            rate = float(point["rate"])
        except (KeyError, TypeError, ValueError):
            continue  # not a latency point of the benchmark's: nothing to compare with
        if rate <= 0:
            continue
        sim = simulate(cost, dep, Traffic(live_per_s=rate, duration_s=seconds), seed=seed)
        rows.append(
            {
                "rate": rate,
                "measured": measured,
                "simulated": {"p50": sim.live_p50_ms, "p95": sim.live_p95_ms, "p99": sim.live_p99_ms},
            }
        )
    return rows


def drain_check(cost: CostModel, bench: dict[str, Any], dep: Deployment) -> dict[str, float] | None:
    """The benchmark's point b (a backlog drained end to end on `dep`), simulated: events/s both ways."""
    points, config = bench.get("events_per_s"), bench.get("config")
    measured = points.get("b") if isinstance(points, dict) else None
    events = config.get("events") if isinstance(config, dict) else None
    if not isinstance(measured, int | float) or not isinstance(events, int) or events <= 0:
        return None
    b = dep.batching
    # longer than the drain can take: every item alone through the worker and one instance, every batch waited for
    serial_s = events * (cost.worker_ms_model + cost.triton_ms_execution(1)) / 1000.0
    bound_s = serial_s + (events / b.batch_max + 1) * b.batch_wait_s + 10.0
    traffic = Traffic(live_per_s=0, duration_s=bound_s, backfill_events=events, backfill_rate=1e7)
    sim = simulate(cost, dep, traffic, samples=1)
    if sim.backfill_finished_s is None:
        return None
    return {"events": events, "measured_per_s": float(measured), "simulated_per_s": events / sim.backfill_finished_s}


def scenarios(
    work: Workload,
    sized: Plan,
    cost: CostModel,
    bench: tuple[CostModel, Deployment],
    producer_rate: float,
    live_seconds: float,
) -> dict[str, tuple[CostModel, Deployment, Traffic]]:
    """Name -> (cost model, deployment, traffic) of each simulated case. The bench machine runs on what
    the benchmark measured, the plan on `cost` (which may carry another Triton rate)."""
    dep = sized.deployment

    def live(rate: float) -> Traffic:
        return Traffic(live_per_s=rate, live_cache_hit=work.live_cache_hit, duration_s=live_seconds)

    def backfill(rate: float) -> Traffic:
        """The whole catalogue at `rate`, with live updates at their peak, for a quarter longer than planned."""
        return Traffic(
            live_per_s=work.live_peak_per_s,
            live_cache_hit=work.live_cache_hit,
            duration_s=work.backfill_hours * 3600.0 * 1.25,
            backfill_events=work.catalogue,
            backfill_rate=rate,
        )

    return {
        "bench machine, live average": (*bench, live(work.live_average_per_s)),
        "bench machine, live peak": (*bench, live(work.live_peak_per_s)),
        "plan, live peak": (cost, dep, live(work.live_peak_per_s)),
        "plan, backfill at --rate + live peak": (cost, dep, backfill(sized.backfill_rate)),
        "plan, backfill without --rate + live peak": (cost, dep, backfill(producer_rate)),
    }


def run_study(
    bench_path: Path,
    work: Workload,
    opts: StudyOptions | None = None,
    *,
    seed: int = 0,
    echo: Echo = print,
) -> dict[str, Any]:
    """The plan for `work` from the benchmark at `bench_path`; unless `opts.simulate` is False, also
    the simulation checked against the benchmark and the scenarios (about a minute for 10 M listings)."""
    opts = opts or StudyOptions()
    triton_items_per_s, live_seconds = opts.triton_items_per_s, opts.live_seconds
    bench = read_bench(bench_path)
    measured_cost = CostModel.from_results(bench, bench_path)  # what the benchmark's own runs cost
    cost = CostModel.from_results(bench, bench_path, triton_items_per_s) if triton_items_per_s else measured_cost
    bench_dep = bench_deployment(bench)
    # a backfill without --rate is sent as fast as one producer goes: the raw aiokafka loop's rate
    measured = bench.get("events_per_s")
    raw = measured.get("raw") if isinstance(measured, dict) else None
    producer_rate = float(raw) if isinstance(raw, int | float) and raw > 0 else UNTHROTTLED_FALLBACK
    sized = plan(cost, work, target_utilisation=opts.target_utilisation, batching=opts.batching())
    checked: list[dict[str, Any]] = []
    drained: dict[str, float] | None = None
    results: dict[str, Any] = {}
    if opts.simulate:
        echo("simulating the benchmark's backlog drain and latency points")
        # checked against the benchmark on the costs and deployment it measured
        drained = drain_check(measured_cost, bench, bench_dep)
        checked = validation(measured_cost, bench, bench_dep, live_seconds, seed)
        cases = scenarios(work, sized, cost, (measured_cost, bench_dep), producer_rate, live_seconds)
        for name, (case_cost, dep, traffic) in cases.items():
            echo(f"simulating: {name}")
            sim = simulate(case_cost, dep, traffic, seed=seed)
            results[name] = {
                "deployment": dep.model_dump(),
                "traffic": traffic.model_dump(),
                "result": sim.model_dump(),
            }
    return {
        "cost_model": cost.model_dump(),
        "workload": work.described(),
        "bench_deployment": bench_dep.model_dump(),
        "target_utilisation": opts.target_utilisation,
        "unthrottled_producer_per_s": producer_rate,
        "plan": sized.model_dump(),
        "validation": checked,
        "drain_check": drained,
        "scenarios": results,
    }


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def table(study: dict[str, Any]) -> str:
    """The plan, the simulation against the benchmark, and the scenarios, as text and markdown tables."""
    return "\n\n".join(part for part in (_plan_lines(study), _check_lines(study), _scenario_lines(study)) if part)


def _plan_lines(study: dict[str, Any]) -> str:
    p, w = study["plan"], study["workload"]
    d = p["deployment"]
    notes = "".join(f"note: {n}\n" for n in study["cost_model"].get("notes", ()))
    return notes + (
        f"workload: {w['catalogue']:,} listings, {w['change_per_hour']:.1%} changing per hour "
        f"({w['live_average_per_s']:.1f}/s average, {w['live_peak_per_s']:.1f}/s at peak), "
        f"backfill within {w['backfill_hours']:g} h ({w['backfill_per_s']:,.0f}/s)\n"
        f"plan: {_n(d['triton_instances'], 'Triton instance')}, {_n(d['workers'], 'worker')}, "
        f"{_n(d['partitions'], 'partition')}, backfill --rate {p['backfill_rate']:,.0f} (Triton at "
        f"{p['triton_utilisation']:.0%}, worker CPU at {p['worker_utilisation']:.0%} while a backfill runs at the "
        f"live peak; workers: {p['workers_for_cpu']} for CPU, {p['workers_for_concurrency']} to keep Triton fed at "
        f"{p['worker_ceiling_per_s']:,.0f} events/s each)"
    )


def _check_lines(study: dict[str, Any]) -> str:
    lines = []
    if study.get("drain_check"):
        dc = study["drain_check"]
        lines.append(
            f"drain of {dc['events']:,} uncached events (point b) on the bench machine: measured "
            f"{dc['measured_per_s']:,.0f} events/s, simulated {dc['simulated_per_s']:,.0f}"
        )
    if study["validation"]:
        lines += [
            "latency on the bench machine, measured vs simulated:",
            "| load (events/s) | measured p50 / p95 / p99 ms | simulated p50 / p95 / p99 ms |",
            "|---|---|---|",
        ]
    for v in study["validation"]:
        m, s = v["measured"], v["simulated"]
        lines.append(
            f"| {v['rate']:.0f} | {_ms(m['p50'])} / {_ms(m['p95'])} / {_ms(m['p99'])} | "
            f"{_ms(s['p50'])} / {_ms(s['p95'])} / {_ms(s['p99'])} |"
        )
    return "\n".join(lines)


def _scenario_lines(study: dict[str, Any]) -> str:
    if not study["scenarios"]:
        return ""
    lines = [
        "| scenario | instances / workers / partitions | live p50 / p99 / max ms | live unfinished | "
        "backfill done in | most events waiting | Triton / worker busy |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, sc in study["scenarios"].items():
        dep, r = sc["deployment"], sc["result"]
        total = sc["traffic"]["backfill_events"]
        if not total:
            done = "-"
        elif r["backfill_finished_s"] is not None:
            done = f"{r['backfill_finished_s'] / 60:.1f} min"
        else:
            done = f"not finished ({r['backfill_done']:,} of {total:,})"
        lines.append(
            f"| {name} | {dep['triton_instances']} / {dep['workers']} / {dep['partitions']} | "
            f"{_ms(r['live_p50_ms'])} / {_ms(r['live_p99_ms'])} / {_ms(r['live_max_ms'])} | {r['live_unfinished']:,} | "
            f"{done} | {r['max_backlog']:,} | {r['triton_utilisation']:.0%} / {r['worker_utilisation']:.0%} |"
        )
    return "\n".join(lines)


def plot(study: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4.8), dpi=110)
    rates = [f"{v['rate']:.0f}/s" for v in study["validation"]]
    x = range(len(rates))
    for i, (kind, style) in enumerate((("measured", "tab:blue"), ("simulated", "tab:orange"))):
        for j, q in enumerate(("p50", "p99")):
            ax1.bar(
                [k + (2 * i + j) * 0.2 - 0.3 for k in x],
                [v[kind][q] or 0 for v in study["validation"]],
                width=0.2,
                color=style,
                alpha=0.55 if q == "p50" else 1.0,
                label=f"{kind} {q}",
            )
    ax1.set_xticks(list(x), rates)
    ax1.set_xlabel("open-loop load, bench machine")
    ax1.set_ylabel("latency (ms)")
    ax1.set_title("simulation vs measurement")
    ax1.legend(fontsize=7)
    for name, sc in study["scenarios"].items():
        if not sc["traffic"]["backfill_events"]:
            continue
        tl = sc["result"]["timeline"]
        minutes = [t / 60 for t, _, _ in tl]
        ax2.plot(minutes, [n for _, n, _ in tl], label=name.removeprefix("plan, "))
        ax3.plot(minutes, [(p or float("nan")) / 1000 for _, _, p in tl], label=name.removeprefix("plan, "))
    ax2.set_xlabel("minutes")
    ax2.set_ylabel("events waiting in the partitions")
    ax2.set_title("backlog during a full backfill")
    ax2.legend(fontsize=7)
    ax3.set_yscale("log")
    ax3.set_xlabel("minutes")
    ax3.set_ylabel("live updates' p99 latency (s, log)")
    ax3.set_title("live latency during a full backfill")
    ax3.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def as_json(study: dict[str, Any]) -> str:
    return json.dumps(study, indent=1) + "\n"
