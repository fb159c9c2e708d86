from __future__ import annotations

import pytest

from tagstream.trainer.data import load_dataset
from tests.conftest import EXAMPLES, results_file

#: Set to a path to keep the scenarios' counts (bench/reliability.py sets it to bench/results/reliability.json).
REPORT_ENV = "TAGSTREAM_RELIABILITY_REPORT"


@pytest.fixture(scope="module")
def stack(module_workers):
    """The session's shared stack: each scenario has its own topics and group."""
    return module_workers


@pytest.fixture(scope="session")
def titles() -> list[str]:
    return [it.title for it in load_dataset(EXAMPLES / "catalogue.test.jsonl").items]


@pytest.fixture(scope="session")
def results():
    with results_file(REPORT_ENV) as collected:
        yield collected
