"""Commands of the serving side: export, serve, publish."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Literal

import typer

from tagstream.cli.options import with_model_options
from tagstream.core.errors import ConfigError
from tagstream.core.names import MODEL_NAME
from tagstream.core.repository import model_versions
from tagstream.trainer.serving import ServingConfig

SERVING_OPTIONS = (
    "model_name",
    "instance_kind",
    "instance_count",
    "max_batch_size",
    "max_queue_delay_us",
    "threads",
)


def register(app: typer.Typer) -> None:
    @app.command()
    @with_model_options(ServingConfig, param="serving", include=SERVING_OPTIONS, flags={"model_name": "--name"})
    def export(
        serving: ServingConfig,
        model: Path = typer.Option(..., "--model", help="artefact directory from `tagstream train`"),
        repo: Path = typer.Option(Path("triton_repo"), "--repo", help="Triton model repository"),
        backend: Literal["torch", "onnx"] | None = typer.Option(
            None, "--backend", help="torch or onnx (default: torch; onnx with --quantize int8)"
        ),
        quantize: Literal["int8"] | None = typer.Option(None, "--quantize", help="int8: dynamic int8 quantization"),
        per_channel: bool = typer.Option(
            False,
            "--per-channel",
            help="onnx int8: one weight scale per output channel (more accurate, ~8% slower)",
        ),
        blend: bool = typer.Option(
            True,
            "--blend/--no-blend",
            help="serve the model's blend with TF-IDF when it has one (--no-blend: the fine-tuned model alone, "
            "with its own thresholds)",
        ),
    ) -> None:
        """Write the next integer version of the model into the Triton repository (atomically)."""
        from tagstream.trainer.export import export_model

        version, path = export_model(
            model, repo, backend=backend, quantize=quantize, per_channel=per_channel, serving=serving, blend=blend
        )
        typer.echo(f"exported {model} as {serving.model_name} version {version}: {path}")

    @app.command()
    def serve(
        repo: Path = typer.Option(Path("triton_repo"), "--repo", help="Triton model repository"),
        http_port: int = typer.Option(8000, "--http-port"),
        grpc_port: int = typer.Option(8001, "--grpc-port"),
        metrics_port: int = typer.Option(8002, "--metrics-port"),
        name: str = typer.Option(MODEL_NAME, "--name", help="model name in the repository"),
        workdir: Path = typer.Option(Path(".tagstream/triton"), "--workdir", help="backend dir and server log"),
        timeout: float = typer.Option(300.0, "--timeout", help="seconds to wait for the model to be ready"),
    ) -> None:
        """Start tritonserver (explicit model control), load the latest version(s), serve until SIGINT/SIGTERM.
        (A Triton that already runs takes a new version with `tagstream publish`.)"""
        from tagstream.localstack.triton import TritonPorts, TritonServer

        if not model_versions(repo / name):
            raise ConfigError(f"{repo / name} has no version; run `tagstream export` first")
        server = TritonServer(repo, workdir, ports=TritonPorts(http_port, grpc_port, metrics_port), load_models=(name,))
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        server.start(timeout)
        try:
            typer.echo(f"tritonserver up: http {server.http_url}  grpc {server.grpc_url}  metrics {server.metrics_url}")
            if not server.model_ready(name):
                typer.secho(f"error: {name} failed to load; see {server.log_path}", fg="red", err=True)
                raise typer.Exit(1)
            typer.echo(f"{name} ready; Ctrl-C to stop")
            while not stop.wait(1.0):
                if not server.running:
                    typer.secho(f"error: tritonserver exited; see {server.log_path}", fg="red", err=True)
                    raise typer.Exit(1)
        finally:
            server.stop()
            typer.echo("tritonserver stopped")

    @app.command("publish")
    def publish_cmd(
        url: str = typer.Option("127.0.0.1:8000", "--url", help="Triton HTTP endpoint host:port"),
        name: str = typer.Option(MODEL_NAME, "--name", help="model name in the repository"),
        timeout: float = typer.Option(600.0, "--timeout", help="seconds to wait for the new version to load"),
    ) -> None:
        """Load the newest exported version into a running Triton, with no downtime."""
        from tagstream.clients.publish import publish

        res = publish(url, name, timeout)
        typer.echo(
            f"{name}: serving version {res.serving_version} (was {res.previous_version}; "
            f"ready {list(res.ready_versions)}; {res.seconds:.1f} s)"
        )
