"""docker-compose.yml and the Dockerfiles it builds stay in step with the code (no Docker needed)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tagstream.stream.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_has_the_whole_stack_and_its_dockerfiles_exist():
    services = compose()["services"]
    assert {"kafka", "redis", "triton", "worker"} <= set(services)
    for name, svc in services.items():
        if "build" in svc:
            assert (ROOT / svc["build"].get("context", ".") / svc["build"]["dockerfile"]).is_file(), name
    # the worker waits for a ready Triton, and Triton loads the model the worker asks for
    assert services["worker"]["depends_on"]["triton"]["condition"] == "service_healthy"
    assert f"--load-model={WorkerSettings().model_name}" in services["triton"]["command"]
    assert "--model-control-mode=explicit" in services["triton"]["command"]


def test_worker_environment_names_real_settings():
    env = compose()["services"]["worker"]["environment"]
    fields = {f"TAGSTREAM_{name.upper()}" for name in WorkerSettings.model_fields}
    unknown = set(env) - fields
    assert not unknown, f"docker-compose sets settings the worker does not have: {sorted(unknown)}"
    # and the values parse as the settings expect
    WorkerSettings(**{k.removeprefix("TAGSTREAM_").lower(): v for k, v in env.items()})


def test_dockerfiles_copy_only_what_exists():
    for dockerfile in (ROOT / "docker").glob("*.Dockerfile"):
        for line in dockerfile.read_text(encoding="utf-8").splitlines():
            m = re.match(r"COPY\s+(?!--from)(.+)\s+\S+$", line.strip())
            if m:
                for src in m.group(1).split():
                    assert (ROOT / src).exists(), f"{dockerfile.name}: COPY {src} does not exist"
