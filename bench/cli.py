"""The benchmark and planning commands, from a checkout (`pip install -e '.[bench]'`; not part of the
plain install): `python -m bench stream` (a ~1-minute stream benchmark on the embedded stack) and
`python -m bench capacity` (size a deployment for a catalogue from a stream benchmark's measurements,
and check it by simulation). Failures are one line, as with `tagstream`."""

from __future__ import annotations

from pathlib import Path

import typer

from bench.capacity.plan import Workload
from bench.capacity.study import StudyOptions
from tagstream.cli.options import command_line, with_model_options
from tagstream.core.errors import ConfigError

app = command_line("tagstream's benchmark and capacity planning (from a checkout).")


def _register(app: typer.Typer) -> None:
    @app.command()
    @with_model_options(Workload, param="work")
    @with_model_options(StudyOptions, param="opts")
    def capacity(
        work: Workload,
        opts: StudyOptions,
        bench: Path = typer.Option(
            ..., "--bench", help="results of `python -m bench stream --out F.json` or bench/stream_bench.py"
        ),
        out: Path | None = typer.Option(None, "--out", help="write the study as JSON here (and a PNG next to it)"),
    ) -> None:
        """Size partitions, workers and Triton instances for a catalogue's live updates and a full
        backfill, from a benchmark's measured costs; check the plan by simulation."""
        from bench.capacity.study import as_json, plot, run_study, table

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

    @app.command()
    def stream(
        model: Path | None = typer.Option(
            None, "--model", help="artefact directory (default: train a small sample model)"
        ),
        events: int = typer.Option(400, "--events", min=50, help="events per backlog"),
        rounds: int = typer.Option(1, "--rounds", min=1, help="interleaved rounds (ratios are taken within a round)"),
        fast_factor: int = typer.Option(
            5, "--fast-factor", min=1, help="the fast points' (d, p, raw) backlogs are this many times longer"
        ),
        latency_seconds: float = typer.Option(
            5.0, "--latency-seconds", min=1, max=600, help="seconds of the latency run at half of b's rate"
        ),
        out: Path | None = typer.Option(None, "--out", help="write the results as JSON here (and a PNG next to it)"),
        workdir: Path = typer.Option(Path(".tagstream/bench"), "--workdir", help="logs and the exported model"),
        budgets: str = typer.Option(
            "", "--budgets", help="token budgets whose cost b measures side by side (b_len<N>), e.g. 64,128,256"
        ),
        also: list[str] = typer.Option(
            [], "--also", metavar="LABEL=DIR", help="another model directory served side by side (b_LABEL)"
        ),
    ) -> None:
        """A ~1-minute stream benchmark on the embedded stack (`python -m bench.stream_bench` runs the full one)."""
        import json as _json

        from bench.engine import BenchConfig, parse_budgets, parse_others, plot, run_bench, table
        from tagstream.demo import SAMPLE
        from tagstream.trainer.data import load_dataset

        try:
            parsed_budgets, others = parse_budgets(budgets), parse_others(also)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        workdir.mkdir(parents=True, exist_ok=True)
        if model is None:
            from tagstream.trainer.options import TrainOptions
            from tagstream.trainer.pipeline import run_training

            model = workdir / "model"
            typer.echo("training a small sample model first (about a minute)")
            run_training(
                Path(str(SAMPLE / "catalogue.train.jsonl")),
                Path(str(SAMPLE / "catalogue.val.jsonl")),
                model,
                TrainOptions(epochs=1, max_items=600, references=False),
                progress=False,
                echo=lambda *_: None,
            )
        texts = load_dataset(Path(str(SAMPLE / "catalogue.test.jsonl"))).texts
        config = BenchConfig(
            events=events,
            rounds=rounds,
            fast_factor=fast_factor,
            latency_seconds=latency_seconds,
            loads=(0.5,),
            variants={},
            budgets=parsed_budgets,
            others=others,
        )
        result = run_bench(model, texts, workdir / "run", config, echo=typer.echo)
        typer.echo(table(result))
        if out:
            out.write_text(_json.dumps(result, indent=1), encoding="utf-8")
            plot(result, out.with_suffix(".png"))
            typer.echo(f"wrote {out} and {out.with_suffix('.png')}")


_register(app)
