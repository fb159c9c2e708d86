"""CLI commands for the streaming side: worker, produce, tail-tags, demo."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def worker() -> None:
        """Run the streaming worker (settings from TAGSTREAM_* environment variables)."""
        from stream.app import run_worker
        from stream.settings import WorkerSettings

        run_worker(WorkerSettings())

    @app.command()
    def produce(
        file: Path = typer.Option(..., "--file", help="JSON lines: catalogue rows (trainer format) or product-update events"),
        rate: Optional[float] = typer.Option(None, "--rate", help="events per second (default: as fast as possible)"),
        broker: Optional[str] = typer.Option(None, "--broker", help="default: TAGSTREAM_BROKER_URL"),
        topic: Optional[str] = typer.Option(None, "--topic", help="default: TAGSTREAM_INPUT_TOPIC"),
        op: str = typer.Option("upsert", "--op", help="upsert or delete, for rows that do not say"),
        raw: bool = typer.Option(False, "--raw", help="send each line verbatim (it must already be an event)"),
    ) -> None:
        """Send product-update events from a JSONL file at a chosen rate."""
        from tqdm import tqdm

        from stream.producer import catalogue_events, produce as send
        from stream.settings import WorkerSettings

        if not file.is_file():
            raise typer.BadParameter(f"{file}: no such file")
        s = WorkerSettings()
        skipped: list[str] = []
        with tqdm(desc="produce", unit="ev") as bar:
            n = asyncio.run(send(broker or s.broker_url, topic or s.input_topic, catalogue_events(file, op=op, raw=raw, skipped=skipped), rate, bar.update))
        typer.echo(f"sent {n} events to {topic or s.input_topic}")
        for line in skipped[:10]:
            typer.echo(f"skipped {line}", err=True)

    @app.command("tail-tags")
    def tail_tags(
        broker: Optional[str] = typer.Option(None, "--broker"),
        topic: Optional[str] = typer.Option(None, "--topic", help="default: TAGSTREAM_OUTPUT_TOPIC"),
        group: Optional[str] = typer.Option(None, "--group", help="consumer group (default: none, read everything)"),
        idle_timeout: Optional[float] = typer.Option(None, "--idle-timeout", help="stop after this many seconds without a message"),
        max_events: Optional[int] = typer.Option(None, "--max", help="stop after this many events"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """An example downstream subscriber: print tag events as they arrive."""
        from stream.settings import WorkerSettings
        from stream.subscriber import read_topic

        s = WorkerSettings()

        async def go():
            n = 0
            async for r in read_topic(broker or s.broker_url, topic or s.output_topic, group=group, idle_timeout_s=idle_timeout):
                if as_json:
                    typer.echo(json.dumps({"key": r.key, "partition": r.partition, "offset": r.offset, "value": r.value}))
                elif r.value is None:
                    typer.echo(f"{r.key}: deleted (tombstone)")
                else:
                    tags = ", ".join(f"{t['tag']} {t['score']:.2f}" for t in r.value["tags"][:6])
                    typer.echo(f"{r.key} v{r.value['model_version']}{' cached' if r.value['cached'] else ''}: {tags}")
                n += 1
                if max_events and n >= max_events:
                    return

        try:
            asyncio.run(go())
        except KeyboardInterrupt:
            pass

    @app.command()
    def demo(
        file: Path = typer.Option(Path("examples/catalogue.test.jsonl"), "--file", help="products to stream (JSONL)"),
        rate: float = typer.Option(20.0, "--rate", help="events per second (about 50/s saturates a 2-core machine running everything)"),
        limit: Optional[int] = typer.Option(300, "--limit", help="stream at most this many products (then re-send 20 to show the cache)"),
        repo: Path = typer.Option(Path("triton_repo"), "--repo"),
        workdir: Path = typer.Option(Path(".demo"), "--workdir"),
    ) -> None:
        """Everything on one machine: broker, Redis, Triton, the worker, a demo stream and a summary."""
        from tagstream.demo import run_demo

        run_demo(file=file, rate=rate, limit=limit, repo=repo, workdir=workdir, echo=typer.echo)
