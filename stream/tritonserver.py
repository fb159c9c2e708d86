"""Start and stop a real `tritonserver`.

Here the binary and its python backend come from the nvidia-pytriton wheel and run on the CPU; in
production the official Triton container runs the same model repository (see docker-compose.yml).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from stream.errors import ServingError
from stream.net import free_port

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TritonPorts:
    http: int
    grpc: int
    metrics: int

    @classmethod
    def free(cls) -> "TritonPorts":
        return cls(free_port(), free_port(), free_port())


def _wheel_root() -> Path:
    try:
        import pytriton
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise ServingError("nvidia-pytriton is not installed: it carries the tritonserver binary") from e
    return Path(pytriton.__file__).parent / "tritonserver"


def prepare_backends(workdir: Path) -> Path:
    """One backend directory holding the wheel's python backend and the stub for this Python."""
    root = _wheel_root()
    backends = workdir / "backends"
    target = backends / "python"
    target.mkdir(parents=True, exist_ok=True)
    for f in (root / "backends" / "python").iterdir():
        if f.is_file():
            shutil.copy2(f, target / f.name)
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / ver / "triton_python_backend_stub"
    if not stub.is_file():
        raise ServingError(f"the nvidia-pytriton wheel has no python backend stub for Python {ver}")
    shutil.copy2(stub, target / "triton_python_backend_stub")
    return backends


def server_env() -> dict[str, str]:
    """libpython of this interpreter first (the stub must load the same one as the venv, or torch
    fails on undefined symbols), then the wheel's bundled libraries."""
    env = dict(os.environ)
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    wheel_libs = _wheel_root().parent.parent / "nvidia_pytriton.libs"
    parts = [p for p in (libdir, str(wheel_libs), env.get("LD_LIBRARY_PATH", "")) if p]
    env["LD_LIBRARY_PATH"] = ":".join(parts)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env


@dataclass
class TritonServer:
    """A tritonserver process in explicit model-control mode."""

    repo: Path
    workdir: Path
    ports: TritonPorts = field(default_factory=TritonPorts.free)
    load_models: tuple[str, ...] = ()
    log_file: Path | None = None
    verbose: int = 0
    extra_args: tuple[str, ...] = ()
    proc: subprocess.Popen | None = None

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
        binary = _wheel_root() / "bin" / "tritonserver"
        cmd = [
            str(binary),
            f"--model-repository={Path(self.repo).resolve()}",
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
            f"--log-verbose={self.verbose}",
        ]
        cmd += [f"--load-model={m}" for m in self.load_models]
        cmd += list(self.extra_args)
        return cmd

    def start(self, timeout: float = 180.0) -> "TritonServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_file or (self.workdir / "tritonserver.log")
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=server_env(), start_new_session=True)
        self.wait_live(timeout)
        return self

    def _get(self, path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://{self.http_url}{path}", timeout=2) as r:
                return r.status
        except Exception:
            return 0

    def wait_live(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServingError(f"tritonserver exited with code {self.proc.returncode}; see {self._log.name}")
            if self._get("/v2/health/live") == 200:
                return
            time.sleep(0.2)
        raise ServingError(f"tritonserver did not come up within {timeout:.0f} s; see {self._log.name}")

    def model_ready(self, model: str, version: int | None = None) -> bool:
        path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/ready"
        return self._get(path) == 200

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("tritonserver did not stop within %.0f s; killing it", timeout)
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
