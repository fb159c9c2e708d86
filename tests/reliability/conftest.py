from __future__ import annotations

import pytest

from tagstream.localstack.stack import LocalStack
from tagstream.trainer.data import load_dataset
from tagstream.trainer.export import export_model
from tests.conftest import EXAMPLES, results_file

#: Set to a path to keep the scenarios' counts (bench/reliability.py sets it to bench/results/reliability.json).
REPORT_ENV = "TAGSTREAM_RELIABILITY_REPORT"


@pytest.fixture(scope="module")
def stack(tiny_model, tmp_path_factory):
    work = tmp_path_factory.mktemp("reliability")
    repo = work / "repo"
    export_model(tiny_model, repo)
    with LocalStack(work, repo) as s:
        yield s


@pytest.fixture(scope="session")
def titles() -> list[str]:
    return [it.title for it in load_dataset(EXAMPLES / "catalogue.test.jsonl").items]


@pytest.fixture(scope="session")
def results():
    with results_file(REPORT_ENV) as collected:
        yield collected
