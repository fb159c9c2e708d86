"""faust-streaming declares click<8.4; huggingface-hub 2.x and the newest nvidia-pytriton want a newer
click. pyproject.toml pins the compatible set; these tests check that the click-based CLIs run."""

import subprocess
import sys
from importlib.metadata import version

from packaging.version import Version


def run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)


def test_click_version_satisfies_faust():
    assert Version(version("click")) < Version("8.4")
    assert Version(version("huggingface-hub")) < Version("2")


def test_tagstream_cli_help_and_version():
    res = run("-m", "tagstream.cli", "--help")
    assert res.returncode == 0, res.stderr
    for cmd in ("train", "evaluate", "predict", "export", "serve", "publish", "worker", "produce", "tail-tags", "demo"):
        assert cmd in res.stdout
    assert "<bool>" not in res.stdout  # a flag takes no value; typer's rich panels showed one
    for cmd in ("worker", "produce", "tail-tags", "train", "serve"):
        sub = run("-m", "tagstream.cli", cmd, "--help")
        assert sub.returncode == 0 and "<bool>" not in sub.stdout, sub.stdout
    assert "--url" not in run("-m", "tagstream.cli", "serve", "--help").stdout  # publishing is `publish`'s job
    res = run("-m", "tagstream.cli", "--version")
    assert res.returncode == 0 and res.stdout.startswith("tagstream ") and res.stdout.split()[1][0].isdigit()


def test_faust_cli_runs():
    res = run("-c", "import sys; from faust.cli.faust import cli; sys.argv=['faust','--version']; cli()")
    assert res.returncode == 0, res.stderr
    assert "faust" in (res.stdout + res.stderr).lower()


def test_transformers_cli_imports_with_this_click():
    res = run("-c", "import huggingface_hub.cli; import transformers; print('ok')")
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr
