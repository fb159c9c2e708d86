"""A real `tritonserver` on CPU: the binary and its python backend come from the nvidia-pytriton
wheel (found with pytriton's own distribution helpers). In production the official Triton container
serves the same model repository (docker-compose.yml)."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tagstream.localstack.errors import StackError
from tagstream.localstack.ports import free_port
from tagstream.localstack.process import ManagedProcess, TlsFiles
from tagstream.localstack.wait import port_open, wait_until


@dataclass(frozen=True)
class TritonPorts:
    http: int
    grpc: int
    metrics: int

    @classmethod
    def free(cls) -> TritonPorts:
        return cls(free_port(), free_port(), free_port())


def _distribution() -> tuple[Path, Path, Path]:
    """(the wheel's tritonserver directory, its bundled libraries, the stub for this Python)."""
    try:
        from pytriton.utils.distribution import get_libs_path, get_root_module_path, get_stub_path
    except ImportError:  # pragma: no cover - a declared dependency
        raise StackError(
            "nvidia-pytriton is not installed: it carries the tritonserver binary: pip install 'tagstream[serve]'"
        ) from None
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return get_root_module_path() / "tritonserver", Path(get_libs_path()), Path(get_stub_path(version))


def prepare_backends(workdir: Path) -> Path:
    """One backend directory holding the wheel's python backend and the stub for this Python."""
    root, _, stub = _distribution()
    if not stub.is_file():
        raise StackError(f"the nvidia-pytriton wheel has no python backend stub for Python {sys.version_info[:2]}")
    target = workdir / "backends" / "python"
    target.mkdir(parents=True, exist_ok=True)
    for f in (root / "backends" / "python").iterdir():
        if f.is_file():
            shutil.copy2(f, target / f.name)
    shutil.copy2(stub, target / "triton_python_backend_stub")
    return target.parent


def server_env() -> dict[str, str]:
    """libpython of this interpreter first (the stub must load the same one as the venv, or torch
    fails on undefined symbols), then the wheel's bundled libraries; this venv's binaries on PATH."""
    env = dict(os.environ)
    _, libs, _ = _distribution()
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    env["LD_LIBRARY_PATH"] = ":".join(p for p in (libdir, str(libs), env.get("LD_LIBRARY_PATH", "")) if p)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return int(r.status)
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return 0


class TritonServer(ManagedProcess):
    """tritonserver in explicit model-control mode, loading `load_models` at start."""

    name = "tritonserver"
    start_timeout = 180.0

    def __init__(
        self,
        repo: Path,
        workdir: Path,
        *,
        ports: TritonPorts | None = None,
        load_models: tuple[str, ...] = (),
        grpc_tls: TlsFiles | None = None,
    ):
        super().__init__(workdir)
        self.repo = Path(repo)
        self.ports = ports or TritonPorts.free()
        self.load_models = load_models
        self.grpc_tls = grpc_tls

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.ports.http}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.ports.grpc}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.metrics}/metrics"

    def command(self) -> list[str]:
        root, _, _ = _distribution()
        cmd = [
            str(root / "bin" / "tritonserver"),
            f"--model-repository={self.repo.resolve()}",
            f"--backend-directory={prepare_backends(self.workdir)}",
            "--model-control-mode=explicit",
            f"--http-port={self.ports.http}",
            f"--grpc-port={self.ports.grpc}",
            f"--metrics-port={self.ports.metrics}",
            "--http-address=127.0.0.1",
            "--grpc-address=127.0.0.1",
            "--metrics-address=127.0.0.1",
            "--allow-metrics=true",
            "--strict-readiness=true",
            "--exit-on-error=false",
        ]
        if self.grpc_tls:
            cmd += [
                "--grpc-use-ssl=true",
                f"--grpc-server-cert={self.grpc_tls.cert}",
                f"--grpc-server-key={self.grpc_tls.key}",
                f"--grpc-root-cert={self.grpc_tls.ca}",
                f"--grpc-use-ssl-mutual={'true' if self.grpc_tls.require_client_cert else 'false'}",
            ]
        return cmd + [f"--load-model={m}" for m in self.load_models]

    def env(self) -> dict[str, str]:
        return server_env()

    def _status(self, path: str) -> int:
        return _http_status(f"http://{self.http_url}{path}")

    def ready(self) -> bool:
        """Every endpoint answers. tritonserver starts its metrics server after the HTTP one: HTTP
        alone left a moment (longer on a loaded machine) in which `tagstream serve` said ready and
        the metrics port still refused connections."""
        return (
            self._status("/v2/health/live") == 200
            and _http_status(self.metrics_url) == 200
            and port_open("127.0.0.1", self.ports.grpc)
        )

    def model_ready(self, model: str, version: int | None = None) -> bool:
        path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/ready"
        return self._status(path) == 200

    def wait_model_ready(self, model: str, timeout: float = 300.0) -> None:
        wait_until(
            lambda: self.model_ready(model),
            timeout,
            what=f"Triton did not load {model} (see {self.log_path})",
            give_up=self._exited,
        )
