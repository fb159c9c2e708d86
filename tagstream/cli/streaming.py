"""Commands of the streaming side: worker, topics, healthcheck, produce, tail-tags, demo."""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from pathlib import Path

import typer

from tagstream.core.errors import DataError


class EventOp(StrEnum):
    """What a product-update event asks for (the input contract's `op`)."""

    upsert = "upsert"
    delete = "delete"


def register(app: typer.Typer) -> None:
    @app.command()
    def worker() -> None:
        """Run the streaming worker (settings from TAGSTREAM_* environment variables)."""
        from tagstream.stream.app import run_worker
        from tagstream.stream.settings import load_settings

        run_worker(load_settings())

    @app.command()
    def topics(
        timeout: float = typer.Option(60.0, "--timeout", min=1, help="seconds to wait for the broker"),
    ) -> None:
        """Create the worker's topics on any Kafka-compatible broker: TAGSTREAM_TOPIC_PARTITIONS and
        TAGSTREAM_TOPIC_REPLICATION_FACTOR, the tag topic compacted, retention for the others. Topics
        that exist are left as they are."""
        from tagstream.stream.settings import load_settings
        from tagstream.stream.topics import create_topics, topic_layout

        s = load_settings()
        asyncio.run(create_topics(s, timeout_s=timeout))
        for name, spec in topic_layout(s).items():
            configs = ", ".join(f"{k}={v}" for k, v in spec.configs.items())
            typer.echo(f"{name}: {spec.partitions} partitions, replication {s.topic_replication_factor}, {configs}")

    @app.command()
    def healthcheck(
        timeout: float = typer.Option(3.0, "--timeout", min=0.1, help="seconds to wait for the answer"),
    ) -> None:
        """Exit 0 when this machine's worker answers /healthz on TAGSTREAM_WEB_PORT (for container
        healthchecks), else 1 with one line saying why."""
        import urllib.error
        import urllib.request

        from tagstream.stream.settings import load_settings

        url = f"http://127.0.0.1:{load_settings().web_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                typer.echo(f"{url}: {r.status}")
        except (urllib.error.URLError, OSError) as e:
            typer.echo(f"{url}: {getattr(e, 'reason', e)}", err=True)
            raise typer.Exit(1) from None

    @app.command()
    def produce(
        file: Path = typer.Option(
            ..., "--file", help="JSON lines: catalogue rows (trainer format) or product-update events"
        ),
        rate: float | None = typer.Option(
            None, "--rate", min=0.1, max=1_000_000, help="events per second (default: as fast as possible)"
        ),
        broker: str | None = typer.Option(None, "--broker", help="default: TAGSTREAM_BROKER_URL"),
        topic: str | None = typer.Option(None, "--topic", help="default: TAGSTREAM_INPUT_TOPIC"),
        op: EventOp = typer.Option(EventOp.upsert, "--op", help="upsert or delete, for rows that do not say"),
        raw: bool = typer.Option(False, "--raw", help="send each line verbatim (it must already be an event)"),
    ) -> None:
        """Send product-update events from a JSONL file at a chosen rate."""
        from tqdm import tqdm

        from tagstream.clients.producer import catalogue_events
        from tagstream.clients.producer import produce as send
        from tagstream.core.progress import progress_bar
        from tagstream.stream.settings import load_settings

        if not file.is_file():
            raise DataError(f"{file}: no such file")
        s = load_settings()
        skipped: list[str] = []
        bars: list[tqdm[object]] = []  # shown once sending starts (not before a connection error)

        def progress(n: int) -> None:
            if not bars:
                bars.append(progress_bar(desc="produce", unit="ev"))
            bars[0].update(n)

        events = catalogue_events(file, op=op.value, raw=raw, skipped=skipped)
        try:
            n = asyncio.run(send(broker or s.broker_url, topic or s.input_topic, events, rate, progress, connection=s))
        finally:
            for bar in bars:
                bar.close()
        for line in skipped[:10]:
            typer.echo(f"skipped {line}", err=True)
        if n == 0:
            raise DataError(f"{file}: no event to send ({len(skipped)} rows skipped)")
        typer.echo(f"sent {n} events to {topic or s.input_topic}")

    @app.command("tail-tags")
    def tail_tags(
        broker: str | None = typer.Option(None, "--broker", help="default: TAGSTREAM_BROKER_URL"),
        topic: str | None = typer.Option(None, "--topic", help="default: TAGSTREAM_OUTPUT_TOPIC"),
        group: str | None = typer.Option(None, "--group", help="consumer group (default: none, read everything)"),
        idle_timeout: float | None = typer.Option(
            None, "--idle-timeout", help="stop after this many seconds without a message"
        ),
        max_events: int | None = typer.Option(None, "--max", help="stop after this many events"),
        as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
    ) -> None:
        """An example downstream subscriber: print tag events as they arrive."""
        from tagstream.clients.subscriber import read_topic
        from tagstream.stream.settings import load_settings

        s = load_settings()

        async def go() -> None:
            n = 0
            async for r in read_topic(
                broker or s.broker_url, topic or s.output_topic, group=group, idle_timeout_s=idle_timeout, connection=s
            ):
                if as_json:
                    typer.echo(
                        json.dumps({"key": r.key, "partition": r.partition, "offset": r.offset, "value": r.value})
                    )
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

    @app.command("replay-dlq")
    def replay_dlq(
        stage: list[str] = typer.Option(
            [], "--stage", help="only dead letters of this stage (repeatable): decode, validate, inference, publish"
        ),
        contains: str | None = typer.Option(None, "--contains", help="only dead letters whose error contains this"),
        to: str | None = typer.Option(None, "--to", help="topic to re-send to (default: the topic each came from)"),
        group: str = typer.Option(
            "tagstream-dlq-replay",
            "--group",
            help="consumer group that remembers what was looked at; use a new one to look again",
        ),
        limit: int | None = typer.Option(None, "--limit", min=1, help="re-send at most this many"),
        dry_run: bool = typer.Option(False, "--dry-run", help="list what would be re-sent; send and commit nothing"),
        broker: str | None = typer.Option(None, "--broker", help="default: TAGSTREAM_BROKER_URL"),
        topic: str | None = typer.Option(None, "--topic", help="dead-letter topic (default: TAGSTREAM_DLQ_TOPIC)"),
        idle_timeout: float = typer.Option(
            3.0, "--idle-timeout", help="stop after this many seconds without a message"
        ),
    ) -> None:
        """Re-send chosen dead letters to the input topic, after the cause was fixed."""
        from tagstream.clients.replay import ReplayFilter, replay_dead_letters
        from tagstream.core.errors import ConfigError
        from tagstream.stream.settings import load_settings

        bad = set(stage) - {"decode", "validate", "inference", "publish"}
        if bad:
            raise ConfigError(f"--stage: unknown stage {sorted(bad)[0]!r} (decode, validate, inference or publish)")
        s = load_settings()
        select = ReplayFilter(frozenset(stage), contains)
        rep = asyncio.run(
            replay_dead_letters(
                broker or s.broker_url,
                topic or s.dlq_topic,
                to_topic=to,
                select=select,
                group=group,
                limit=limit,
                dry_run=dry_run,
                idle_timeout_s=idle_timeout,
                echo=typer.echo,
                connection=s,
            )
        )
        verb = "would re-send" if dry_run else "re-sent"
        by_stage = ", ".join(f"{k} {v}" for k, v in sorted(rep.replayed.items())) or "none"
        typer.echo(
            f"{verb} {sum(rep.replayed.values())} of {rep.matched} matching dead letters ({by_stage}); read {rep.read}"
        )
        if rep.truncated:
            typer.echo(
                f"{len(rep.truncated)} could not be re-sent: their original was kept only in part "
                f"(first: {rep.truncated[0]})",
                err=True,
            )

    @app.command()
    def backfill(
        file: Path = typer.Option(..., "--file", help="catalogue (JSON lines) to re-tag"),
        rate: float | None = typer.Option(
            None, "--rate", min=0.1, help="events per second (default: as fast as possible)"
        ),
        state: Path | None = typer.Option(None, "--state", help="progress file (default: FILE.backfill.json)"),
        restart: bool = typer.Option(False, "--restart", help="start over instead of resuming"),
        checkpoint_every: int = typer.Option(500, "--checkpoint-every", min=1, help="record progress every N events"),
        broker: str | None = typer.Option(None, "--broker", help="default: TAGSTREAM_BROKER_URL"),
        topic: str | None = typer.Option(None, "--topic", help="default: TAGSTREAM_INPUT_TOPIC"),
    ) -> None:
        """Re-tag a whole catalogue after a model refresh: every product as an upsert, resumable."""
        from tqdm import tqdm

        from tagstream.clients.backfill import backfill as run
        from tagstream.clients.backfill import default_state_path
        from tagstream.core.progress import progress_bar
        from tagstream.stream.settings import load_settings

        s = load_settings()
        bars: list[tqdm[object]] = []

        def progress(acked: int, total: int) -> None:
            if not bars:
                bars.append(progress_bar(total=total, initial=acked, desc="backfill", unit="ev"))
            bars[0].update(acked - bars[0].n)

        try:
            st = run(
                broker or s.broker_url,
                topic or s.input_topic,
                file,
                state_path=state,
                restart=restart,
                rate=rate,
                checkpoint_every=checkpoint_every,
                connection=s,
                progress=progress,
            )
        finally:
            for bar in bars:
                bar.close()
        typer.echo(
            f"backfill of {file}: {st.acked} of {st.total} products sent "
            f"(progress in {state or default_state_path(file)})"
        )

    @app.command()
    def contract(
        out: Path = typer.Option(Path("docs"), "--out", help="directory for asyncapi.yaml and schemas/"),
        check: bool = typer.Option(False, "--check", help="fail if the files there are out of date; write nothing"),
    ) -> None:
        """Write the event contract: JSON Schemas of the three topics' messages and an AsyncAPI 3 document."""
        from tagstream import __version__
        from tagstream.core.errors import ConfigError
        from tagstream.stream.contract import render

        files = render(__version__)
        stale = [name for name, text in files.items() if not (out / name).is_file() or (out / name).read_text() != text]
        if check:
            if stale:
                raise ConfigError(f"out of date in {out}: {', '.join(stale)} (run `tagstream contract --out {out}`)")
            typer.echo(f"{out}: the event contract is up to date")
            return
        for name, text in files.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_text(text, encoding="utf-8")
        typer.echo(f"wrote {len(files)} files to {out}")

    @app.command()
    def demo(
        file: Path | None = typer.Option(
            None, "--file", help="products to stream (JSONL; default: the sample catalogue)"
        ),
        rate: float = typer.Option(
            20.0,
            "--rate",
            help="events per second (about 50/s saturates a 2-core machine running everything)",
        ),
        limit: int | None = typer.Option(
            300, "--limit", help="stream at most this many products (then re-send 20 to show the cache)"
        ),
        repo: Path | None = typer.Option(
            None,
            "--repo",
            help="Triton model repository; a model is trained if it has none (default: WORKDIR/triton_repo)",
        ),
        workdir: Path = typer.Option(Path(".demo"), "--workdir", help="logs, the demo model and its repository"),
    ) -> None:
        """Everything on one machine: broker, Redis, Triton, the worker, a demo stream and a summary."""
        from tagstream.demo import SAMPLE, run_demo

        file = file or Path(str(SAMPLE / "catalogue.test.jsonl"))
        if not file.is_file():
            raise DataError(f"{file}: no such file")
        run_demo(
            file=file, rate=rate, limit=limit, repo=repo or workdir / "triton_repo", workdir=workdir, echo=typer.echo
        )
