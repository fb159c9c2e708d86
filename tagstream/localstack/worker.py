"""A worker (`tagstream worker`) as a child process, configured through TAGSTREAM_* variables."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tagstream.localstack.ports import free_port
from tagstream.localstack.process import ManagedProcess
from tagstream.localstack.scrape import metric_sum, scrape
from tagstream.localstack.wait import wait_until
from tagstream.stream.settings import ENV_PREFIX, WorkerSettings


def settings_env(**settings: object) -> dict[str, str]:
    """TAGSTREAM_* variables for worker settings given by field name (unknown names are an error)."""
    unknown = set(settings) - set(WorkerSettings.model_fields)
    if unknown:
        raise ValueError(f"not worker settings: {sorted(unknown)}")
    return {f"{ENV_PREFIX}{k.upper()}": str(v) for k, v in settings.items()}


class WorkerProcess(ManagedProcess):
    """`python -m tagstream.cli worker` with the given settings; ready when its web server answers."""

    name = "worker"
    start_timeout = 120.0

    def __init__(self, workdir: Path, *, name: str = "worker", **settings: object):
        super().__init__(workdir, name=name)
        self.port = int(str(settings.pop("web_port", free_port())))
        self.settings = settings

    def command(self) -> list[str]:
        return [sys.executable, "-m", "tagstream.cli", "worker"]

    def env(self) -> dict[str, str]:
        return {**os.environ, **settings_env(**self.settings, web_port=self.port)}

    def get(self, path: str) -> tuple[int, str]:
        """(HTTP status, body) of one of the worker's endpoints; (0, "") when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return int(r.status), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return 0, ""

    def ready(self) -> bool:
        return self.get("/healthz")[0] == 200

    def readiness(self) -> dict[str, object]:
        code, body = self.get("/readyz")
        return json.loads(body) if code in (200, 503) and body else {}

    def wait_assigned(self, timeout: float = 120.0) -> None:
        """Until the worker is ready with partitions assigned (a consumer group join takes a few s)."""

        def assigned() -> bool:
            r = self.readiness()
            return bool(r.get("ready")) and int(str(r.get("assigned_partitions", 0))) > 0

        wait_until(
            assigned,
            timeout,
            what=f"worker {self.name} not ready with partitions (see {self.log_path})",
            interval=0.5,
            give_up=self._exited,
        )

    def metric(self, name: str, **labels: str) -> float:
        return metric_sum(scrape(f"http://127.0.0.1:{self.port}/metrics"), name, **labels)
