"""The compose stack for the compose tests: built from the real Dockerfiles and the stand-ins, brought
up from empty (no model), and torn down with its volumes whatever happened."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.compose.stack import ComposeStack, kafka_name_on_loopback
from tests.conftest import EXAMPLES, results_file

#: one line, with each character that a URL would misread (`@ / : #`), a quote and a backslash
REDIS_PASSWORD = 'p@ss/w:rd#1 "q" \\x'
#: Set to a path to keep the compose tests' counts and timings (JSON).
REPORT_ENV = "TAGSTREAM_COMPOSE_REPORT"


def _secret(path: Path, text: str) -> Path:
    """A secret file as docs/operations.md makes it: root's, readable by the services' group only."""
    path.write_text(text, encoding="utf-8")
    path.chmod(0o640)
    os.chown(path, -1, 10001)
    return path


@pytest.fixture(scope="session")
def compose_results():
    with results_file(REPORT_ENV) as collected:
        yield collected


@pytest.fixture(scope="session")
def compose(tmp_path_factory, compose_results):
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is missing: `make compose-deps` installs Docker Engine and docker-compose")
    work = tmp_path_factory.mktemp("compose")
    data = work / "data"
    data.mkdir()
    for split in ("train", "val"):
        shutil.copy(EXAMPLES / f"catalogue.{split}.jsonl", data / f"{split}.jsonl")
    secrets = work / "secrets"
    secrets.mkdir()
    env = {
        "REDIS_PASSWORD_FILE": str(_secret(secrets / "redis_password", REDIS_PASSWORD)),
        "GRAFANA_ADMIN_PASSWORD_FILE": str(_secret(secrets / "grafana_admin_password", "grafana-test-pw")),
        "TRAIN_DATA": str(data),
    }
    stack = ComposeStack(work, extra_env=env)
    stack.down()  # what an interrupted earlier run left
    try:
        stack.build()
        with kafka_name_on_loopback():
            yield stack
    finally:
        compose_results["timings_s"] = stack.timings
        if any(stack.containers(all_states=True)):
            print(stack.logs(tail=40))
        stack.down()
