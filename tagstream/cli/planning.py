"""`tagstream capacity`: size a deployment for a catalogue from a stream benchmark's measurements, and
check it by simulation (tagstream/capacity)."""

from __future__ import annotations

from pathlib import Path

import typer

from tagstream.capacity.plan import Workload
from tagstream.capacity.study import StudyOptions
from tagstream.cli.options import with_model_options


def register(app: typer.Typer) -> None:
    @app.command()
    @with_model_options(Workload, param="work")
    @with_model_options(StudyOptions, param="opts")
    def capacity(
        work: Workload,
        opts: StudyOptions,
        bench: Path = typer.Option(
            ..., "--bench", help="results of `tagstream bench --out F.json` or bench/stream_bench.py"
        ),
        out: Path | None = typer.Option(None, "--out", help="write the study as JSON here (and a PNG next to it)"),
    ) -> None:
        """Size partitions, workers and Triton instances for a catalogue's live updates and a full
        backfill, from a benchmark's measured costs; check the plan by simulation."""
        from tagstream.capacity.study import as_json, plot, run_study, table

        study = run_study(bench, work, opts, echo=lambda m: typer.echo(m, err=True))
        typer.echo(table(study))
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(as_json(study), encoding="utf-8")
            written = [out]
            if opts.simulate:
                try:
                    plot(study, out.with_suffix(".png"))
                    written.append(out.with_suffix(".png"))
                except ImportError:  # the worker's base install has no matplotlib
                    typer.echo("no plot: matplotlib is not installed (pip install 'tagstream[train]')", err=True)
            typer.echo("wrote " + " and ".join(map(str, written)))
