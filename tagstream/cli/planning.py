"""`tagstream capacity`: size a deployment for a catalogue from a stream benchmark's measurements, and
check it by simulation (tagstream/capacity)."""

from __future__ import annotations

from pathlib import Path

import typer

from tagstream.capacity.plan import Workload
from tagstream.cli.options import with_model_options
from tagstream.core.errors import ConfigError


def register(app: typer.Typer) -> None:
    @app.command()
    @with_model_options(Workload, param="work")
    def capacity(
        work: Workload,
        bench: Path = typer.Option(
            ..., "--bench", help="results of `tagstream bench --out F.json` or bench/stream_bench.py"
        ),
        triton_items_per_s: float | None = typer.Option(
            None,
            "--triton-items-per-s",
            help="one Triton instance's items/s (say a GPU's, measured there); default: the benchmark's CPU instance",
        ),
        batches_in_flight: int | None = typer.Option(
            None, "--batches-in-flight", help="the workers' TAGSTREAM_BATCHES_IN_FLIGHT (default: the worker's)"
        ),
        target_utilisation: float = typer.Option(
            0.75, "--target-utilisation", help="share of each part's measured capacity to plan for"
        ),
        simulate: bool = typer.Option(True, "--simulate/--no-simulate", help="check the plan by simulation"),
        live_seconds: float = typer.Option(600.0, "--live-seconds", help="simulated seconds of live-only traffic"),
        out: Path | None = typer.Option(None, "--out", help="write the study as JSON here (and a PNG next to it)"),
    ) -> None:
        """Size partitions, workers and Triton instances for a catalogue's live updates and a full
        backfill, from a benchmark's measured costs; check the plan by simulation."""
        from pydantic import ValidationError

        from tagstream.capacity.plan import Batching
        from tagstream.capacity.study import as_json, plot, run_study, table

        if triton_items_per_s is not None and triton_items_per_s <= 0:
            raise ConfigError("--triton-items-per-s: must be greater than 0")
        if not 0 < target_utilisation <= 1:
            raise ConfigError("--target-utilisation: must be in (0, 1]")
        if live_seconds <= 0:
            raise ConfigError("--live-seconds: must be greater than 0")
        try:
            batching = Batching() if batches_in_flight is None else Batching(batches_in_flight=batches_in_flight)
        except ValidationError:
            raise ConfigError("--batches-in-flight: must be at least 1") from None
        study = run_study(
            bench,
            work,
            triton_items_per_s=triton_items_per_s,
            target_utilisation=target_utilisation,
            batching=batching,
            simulate_plan=simulate,
            live_seconds=live_seconds,
            echo=lambda m: typer.echo(m, err=True),
        )
        typer.echo(table(study))
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(as_json(study), encoding="utf-8")
            written = [out]
            if simulate:
                try:
                    plot(study, out.with_suffix(".png"))
                    written.append(out.with_suffix(".png"))
                except ImportError:  # the worker's base install has no matplotlib
                    typer.echo("no plot: matplotlib is not installed (pip install 'tagstream[train]')", err=True)
            typer.echo("wrote " + " and ".join(map(str, written)))
