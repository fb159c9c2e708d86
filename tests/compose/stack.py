"""Drives the production compose file with the local stand-ins (docker-compose.local.yml) for the
compose tests: build, up, the trainer, scale, faults, and a teardown that leaves nothing behind.

Everything is reached through ports published on 127.0.0.1. The stand-in broker (Tansu) has one
listener, advertised as kafka:19092 to the containers; this process maps the name `kafka` to
127.0.0.1 (`kafka_name_on_loopback`), as a hosts-file entry would, and reaches it on the published
127.0.0.1:19092.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
LOCAL_OVERRIDE = HERE / "docker-compose.local.yml"
TLS_OVERRIDE = HERE / "docker-compose.tls.yml"
#: compose service names this process resolves to 127.0.0.1: what the stand-in broker advertises
ADVERTISED_NAMES = ("kafka", "kafka-tls")
BROKER_URL = "kafka://127.0.0.1:19092"
TLS_BROKER_URL = "kafka://127.0.0.1:9093"  # the TLS terminator of docker-compose.tls.yml
TRITON_HTTP = "http://127.0.0.1:8000"
PROMETHEUS = "http://127.0.0.1:9090"
#: the machine's local CPU torch wheel (this project's machines), linked into docker/wheels/
LOCAL_TORCH_WHEELS = Path("/opt/wheels")
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
CERT = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)


class ComposeError(AssertionError):
    pass


def run(args: list[str], *, timeout: float = 600, check: bool = True, env: dict[str, str] | None = None) -> str:
    res = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if check and res.returncode != 0:
        raise ComposeError(
            f"{' '.join(args[:6])} ... exited {res.returncode}:\n{res.stdout[-3000:]}{res.stderr[-3000:]}"
        )
    return res.stdout


def proxy_ca_bundle(base_image: str) -> str:
    """The CA certificates this machine trusts beyond the base image's own bundle: a TLS-intercepting
    proxy's, which pip in the image builds needs (empty where there is none)."""
    host = Path("/etc/ssl/certs/ca-certificates.crt")
    if not host.is_file():
        return ""
    base = run(["docker", "run", "--rm", base_image, "cat", "/etc/ssl/certs/ca-certificates.crt"], check=False)
    known = set(CERT.findall(base))
    return "\n".join(c for c in CERT.findall(host.read_text()) if c not in known)


def link_local_wheels() -> bool:
    """docker/wheels/ gets this machine's CPU torch wheel (a hard link where it can: no copy); False
    where the machine has none (the builds then take torch from PyTorch's CPU index)."""
    target = ROOT / "docker" / "wheels"
    found = False
    for wheel in LOCAL_TORCH_WHEELS.glob("torch-*+cpu-*.whl"):
        found = True
        dest = target / wheel.name
        if not dest.exists():
            try:
                os.link(wheel, dest)
            except OSError:
                shutil.copy2(wheel, dest)
    return found


def prometheus_test_config(dest: Path, *, interval_s: int = 2, for_scale: float = 1 / 20) -> Path:
    """deploy/prometheus with the production scrape targets, rules and expressions, but scraped and
    evaluated every `interval_s` and each alert's `for:` scaled by `for_scale` (5m -> 15 s), so a
    test sees an alert go pending and firing in seconds."""
    src = ROOT / "deploy" / "prometheus"
    dest.mkdir(parents=True, exist_ok=True)
    cfg = yaml.safe_load((src / "prometheus.yml").read_text())
    cfg["global"] = {"scrape_interval": f"{interval_s}s", "evaluation_interval": f"{interval_s}s"}
    for job in cfg["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            sd["refresh_interval"] = f"{interval_s}s"  # new worker replicas are found at once
    (dest / "prometheus.yml").write_text(yaml.safe_dump(cfg))
    rules = yaml.safe_load((src / "alerts.yml").read_text())
    units = {"s": 1, "m": 60, "h": 3600}
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                n, unit = re.fullmatch(r"(\d+)([smh])", rule["for"]).groups()  # type: ignore[union-attr]
                rule["for"] = f"{max(interval_s, round(int(n) * units[unit] * for_scale))}s"
    (dest / "alerts.yml").write_text(yaml.safe_dump(rules))
    for f in dest.iterdir():
        f.chmod(0o644)
    dest.chmod(0o755)
    return dest


@contextlib.contextmanager
def kafka_name_on_loopback() -> Iterator[None]:
    """In this process, the names `kafka` and `kafka-tls` resolve to 127.0.0.1 (hosts-file entries, for
    this process only): the stand-in broker advertises kafka:19092 (or its TLS terminator,
    kafka-tls:9093), published on 127.0.0.1 at the same port."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host in ADVERTISED_NAMES else host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.getaddrinfo = real  # type: ignore[assignment]


def http_json(url: str, timeout: float = 5) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def wait_for(check: Callable[[], Any], timeout: float, what: str, poll_s: float = 1.0) -> Any:
    """Poll `check` until it returns something true; its value, or ComposeError naming `what`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as e:  # noqa: BLE001 - not yet
            last = e
        if last:
            return last
        time.sleep(poll_s)
    raise ComposeError(f"{what}: not within {timeout:.0f} s (last: {str(last)[:300]})")


class ComposeStack:
    """One compose project: the production file plus the local stand-ins, with its own env file."""

    def __init__(
        self, workdir: Path, *, project: str = "tagstream-compose-test", extra_env: dict[str, str] | None = None
    ):
        self.project = project
        self.workdir = workdir
        self.base_image = os.environ.get("TAGSTREAM_LOCAL_BASE", "tagstream-local/python:3.11-bookworm")
        self.env = {
            **os.environ,
            "COMPOSE_PROJECT_NAME": project,
            "TAGSTREAM_LOCAL_BASE": self.base_image,
            "TOPIC_PARTITIONS": "6",
            "PROMETHEUS_CONFIG_DIR": str(prometheus_test_config(workdir / "prometheus")),
            **(extra_env or {}),
        }
        self.timings: dict[str, float] = {}
        self.files = [ROOT / "docker-compose.yml", LOCAL_OVERRIDE]

    def compose(self, *args: str, timeout: float = 900, check: bool = True) -> str:
        cmd = ["docker-compose", *(a for f in self.files for a in ("-f", str(f))), *args]
        return run(cmd, timeout=timeout, check=check, env=self.env)

    def timed(self, label: str, fn: Callable[[], Any]) -> Any:
        t0 = time.monotonic()
        try:
            return fn()
        finally:
            self.timings[label] = round(time.monotonic() - t0, 1)

    # --- life cycle -------------------------------------------------------------------------
    def build(self) -> None:
        self.env["TORCH_INDEX_URL"] = "" if link_local_wheels() else CPU_TORCH_INDEX
        self.env["PIP_CA_BUNDLE"] = proxy_ca_bundle(self.base_image)
        self.timed("build", lambda: self.compose("--profile", "train", "build", "--parallel", timeout=1800))

    def up(self, *services: str, scale: dict[str, int] | None = None, recreate: bool = False) -> None:
        """`up -d`; without `recreate`, running containers are left as they are (only scaled)."""
        flags = [f"--scale={name}={n}" for name, n in (scale or {}).items()]
        flags += [] if recreate else ["--no-recreate"]
        self.compose("up", "-d", "--no-build", *flags, *services, timeout=600)

    def train(self, train_args: str = "--epochs 2 --max-items 1200 --no-references --seed 13") -> str:
        """The documented route to a model: `--profile train run --rm trainer` (train, export the next
        version into the model volume, publish it to the running Triton)."""
        self.env["TRAIN_ARGS"] = train_args
        return self.compose("--profile", "train", "run", "--rm", "-T", "trainer", timeout=900)

    def down(self) -> None:
        self.compose(
            "--profile", "train", "down", "-v", "--remove-orphans", "--timeout", "20", timeout=300, check=False
        )

    # --- containers ---------------------------------------------------------------------------
    def containers(self, service: str | None = None, *, all_states: bool = False) -> list[str]:
        args = ["docker", "ps", "-q", "--no-trunc", "--filter", f"label=com.docker.compose.project={self.project}"]
        if service:
            args += ["--filter", f"label=com.docker.compose.service={service}"]
        if all_states:
            args.append("-a")
        return run(args).split()

    def inspect(self, container: str) -> dict[str, Any]:
        return json.loads(run(["docker", "inspect", container]))[0]

    def health(self, container: str) -> str:
        state = self.inspect(container)["State"]
        return state.get("Health", {}).get("Status", state["Status"])

    def exec(self, container: str, *cmd: str, timeout: float = 30) -> str:
        return run(["docker", "exec", container, *cmd], timeout=timeout)

    def worker_ready(self, container: str) -> dict[str, Any] | None:
        """The worker's /readyz body when it is ready (200), else None."""
        script = (
            "import urllib.request,sys\n"
            "try:\n r=urllib.request.urlopen('http://127.0.0.1:6066/readyz',timeout=3); print(r.read().decode())\n"
            "except Exception as e: sys.exit(1)\n"
        )
        res = subprocess.run(["docker", "exec", container, "python", "-c", script], capture_output=True, text=True)
        return json.loads(res.stdout) if res.returncode == 0 else None

    def logs(self, *services: str, tail: int = 60) -> str:
        return self.compose("logs", "--no-color", f"--tail={tail}", *services, check=False)
