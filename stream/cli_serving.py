"""CLI commands for the serving side: export, serve, publish."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def export(
        model: Path = typer.Option(..., "--model", help="artefact directory from `tagstream train`"),
        repo: Path = typer.Option(Path("triton_repo"), "--repo", help="Triton model repository"),
        backend: Optional[str] = typer.Option(None, "--backend", help="torch or onnx (default: torch; onnx with --quantize int8)"),
        quantize: Optional[str] = typer.Option(None, "--quantize", help="int8: dynamic int8 quantization"),
        per_channel: bool = typer.Option(False, "--per-channel", help="onnx int8: one weight scale per output channel (more accurate, ~8% slower)"),
        instance_kind: str = typer.Option("cpu", "--instance-kind", help="cpu here; gpu in production"),
        instance_count: Optional[int] = typer.Option(None, "--instance-count", min=1, help="default: one per core (max 4) on cpu, 1 on gpu"),
        max_batch_size: int = typer.Option(64, "--max-batch-size", min=1),
        queue_delay_us: int = typer.Option(2000, "--max-queue-delay-us", min=0),
        threads: int = typer.Option(1, "--threads", min=1, help="torch/onnxruntime threads per model instance"),
        name: str = typer.Option("product_tagger", "--name"),
    ) -> None:
        """Write the next integer version of the model into the Triton repository (atomically)."""
        from trainer.export import ServingConfig, export_model

        if instance_kind not in ("cpu", "gpu"):
            raise typer.BadParameter("--instance-kind takes cpu or gpu")
        count = instance_count or (ServingConfig().instance_count if instance_kind == "cpu" else 1)
        cfg = ServingConfig(model_name=name, instance_kind=instance_kind, instance_count=count,
                            max_batch_size=max_batch_size, max_queue_delay_us=queue_delay_us, torch_threads=threads)
        version, path = export_model(model, repo, backend=backend, quantize=quantize, per_channel=per_channel, serving=cfg)
        typer.echo(f"exported {model} as {name} version {version}: {path}")

    @app.command()
    def serve(
        repo: Path = typer.Option(Path("triton_repo"), "--repo"),
        url: Optional[str] = typer.Option(None, "--url", help="use a running Triton (HTTP host:port) instead of starting one"),
        http_port: int = typer.Option(8000, "--http-port"),
        grpc_port: int = typer.Option(8001, "--grpc-port"),
        metrics_port: int = typer.Option(8002, "--metrics-port"),
        name: str = typer.Option("product_tagger", "--name"),
        workdir: Path = typer.Option(Path(".tagstream/triton"), "--workdir", help="backend dir and server log"),
        timeout: float = typer.Option(300.0, "--timeout", help="seconds to wait for the model to be ready"),
    ) -> None:
        """Start tritonserver (explicit model control), load the latest version(s), serve until SIGINT/SIGTERM."""
        from stream.model_refresh import publish
        from stream.tritonserver import TritonPorts, TritonServer
        from trainer.export import versions

        if url:
            res = publish(url, name, timeout)
            typer.echo(f"{url}: {name} serving version {res.serving_version} (ready {list(res.ready_versions)})")
            return
        if not versions(repo / name):
            typer.secho(f"error: {repo / name} has no version; run `tagstream export` first", fg="red", err=True)
            raise typer.Exit(2)
        server = TritonServer(repo=repo, workdir=workdir, ports=TritonPorts(http_port, grpc_port, metrics_port), load_models=(name,))
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        server.start(timeout)
        try:
            typer.echo(f"tritonserver up: http {server.http_url}  grpc {server.grpc_url}  metrics {server.metrics_url}")
            if not server.model_ready(name):
                typer.secho(f"error: {name} failed to load; see {workdir / 'tritonserver.log'}", fg="red", err=True)
                raise typer.Exit(1)
            typer.echo(f"{name} ready; Ctrl-C to stop")
            while not stop.wait(1.0):
                if server.proc.poll() is not None:
                    typer.secho(f"error: tritonserver exited ({server.proc.returncode})", fg="red", err=True)
                    raise typer.Exit(1)
        finally:
            server.stop()
            typer.echo("tritonserver stopped")

    @app.command("publish")
    def publish_cmd(
        url: str = typer.Option("127.0.0.1:8000", "--url", help="Triton HTTP endpoint host:port"),
        name: str = typer.Option("product_tagger", "--name"),
        timeout: float = typer.Option(600.0, "--timeout"),
    ) -> None:
        """Load the newest exported version into a running Triton, with no downtime."""
        from stream.model_refresh import publish

        res = publish(url, name, timeout)
        typer.echo(f"{name}: serving version {res.serving_version} (was {res.previous_version}; ready {list(res.ready_versions)}; {res.seconds:.1f} s)")
