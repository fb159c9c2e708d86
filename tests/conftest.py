from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

# Never reach for a model hub from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# The property tests run beside trainings and image builds in the other xdist process, so their
# wall-clock timing says nothing about them: no per-example deadline and no "generation is slow" check
# (one failed CI run: 1.2 s to draw one JSON object while the other process trained). Every example
# and every assertion still runs.
settings.register_profile("shared-cores", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared-cores")


def tagstream(
    *args: str,
    check: bool = True,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    module: str = "tagstream.cli",
) -> subprocess.CompletedProcess:
    """Run the `tagstream` CLI in a subprocess; with check, a failure shows the command's output."""
    res = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )
    if check:
        assert res.returncode == 0, f"{module} {' '.join(args)} exited {res.returncode}:\n{res.stdout}{res.stderr}"
    return res


def bench_cli(*args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    """Run `python -m bench` (the checkout's benchmark and planning commands, not installed) anywhere."""
    env = {**(kwargs.pop("env", None) or os.environ), "PYTHONPATH": str(ROOT)}
    return tagstream(*args, module="bench", env=env, **kwargs)


@contextlib.contextmanager
def results_file(env_var: str) -> Iterator[dict]:
    """A dict the tests fill with counts and timings, written as JSON to the path in `env_var` (if set
    and anything was collected) when the block ends: how benchmarks keep a run's numbers."""
    collected: dict = {}
    try:
        yield collected
    finally:
        path = os.environ.get(env_var)
        if path and collected:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(json.dumps(collected, indent=1, default=str) + "\n", encoding="utf-8")


@pytest.fixture
def write_jsonl(tmp_path):
    def _write(name: str, lines: list[str]) -> Path:
        p = tmp_path / name
        p.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return p

    return _write


def _sample_rows(split: str, n: int) -> list[str]:
    return (EXAMPLES / f"catalogue.{split}.jsonl").read_text(encoding="utf-8").splitlines()[:n]


def run_shared_dir(tmp_path_factory, worker_id: str) -> Path:
    """A directory of this test run that every pytest-xdist worker shares (this session's own
    directory when xdist is off)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if worker_id != "master" else base


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, worker_id) -> Path:
    """A real model fine-tuned for one epoch on 300 sample items (about a minute on 2 cores). Trained
    once per run: the first xdist worker to need it trains it under a file lock, the others read it."""
    from filelock import FileLock

    from tagstream.trainer.options import TrainOptions
    from tagstream.trainer.pipeline import run_training

    d = run_shared_dir(tmp_path_factory, worker_id) / "tiny"
    out = d / "model"
    d.mkdir(exist_ok=True)
    with FileLock(str(d / "train.lock")):
        if not out.is_dir():  # the trainer renames a finished directory into place
            train, val = d / "train.jsonl", d / "val.jsonl"
            train.write_text("\n".join(_sample_rows("train", 300)) + "\n", encoding="utf-8")
            val.write_text("\n".join(_sample_rows("val", 100)) + "\n", encoding="utf-8")
            opts = TrainOptions(epochs=1, batch_size=16, seed=3, min_tag_count=3, references=False)
            run_training(train, val, out, opts, progress=False, echo=lambda *_: None)
    return out


@pytest.fixture(scope="session")
def sample_texts() -> list[str]:
    from tagstream.trainer.data import load_dataset

    return load_dataset(EXAMPLES / "catalogue.test.jsonl").texts[:40]


@pytest.fixture(scope="session")
def local_stack(tiny_model, tmp_path_factory):
    """One embedded stack (broker, Redis, Triton serving the tiny model as its first version) for the
    integration and reliability tests that need no special servers: each test module uses its own
    topics and consumer groups (`module_workers` stops its workers), and leaves the servers running."""
    from tagstream.localstack.stack import LocalStack
    from tagstream.trainer.export import export_model

    work = tmp_path_factory.mktemp("stack")
    export_model(tiny_model, work / "repo")
    with LocalStack(work, work / "repo") as stack:
        yield stack


@pytest.fixture(scope="module")
def module_workers(local_stack):
    """The shared stack, for one test module: the workers the module started are stopped at its end."""
    before = len(local_stack.workers)
    yield local_stack
    for worker in local_stack.workers[before:]:
        worker.stop()
    del local_stack.workers[before:]
