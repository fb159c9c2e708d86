"""One import root: the wheel and the editable install both provide `tagstream` alone, with the
repository folders stream/ and trainer/ as tagstream.stream and tagstream.trainer."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {
    "tagstream": ROOT / "tagstream",
    "tagstream.stream": ROOT / "stream",
    "tagstream.trainer": ROOT / "trainer",
    "tagstream.sample": ROOT / "examples",
}


def declared_packages() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])


def source_packages() -> set[str]:
    found = set()
    for root_name, folder in FOLDERS.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder)
            found.add(".".join([root_name, *rel.parts]) if rel.parts else root_name)
    return found


def test_every_package_is_declared():
    assert source_packages() == declared_packages()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (path,) = out.glob("tagstream-*.whl")
    return path


def test_wheel_installs_one_top_level_name(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert z.read(top_level).decode().split() == ["tagstream"]
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "tagstream.stream.faust_transport:Transport" in z.read(entry_points).decode()
    roots = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert roots == {"tagstream"}
    for module in (
        "tagstream/sample/catalogue.test.jsonl",
        "tagstream/sample/catalogue.train.jsonl",
        "tagstream/stream/app.py",
        "tagstream/trainer/train.py",
        "tagstream/core/text.py",
        "tagstream/trainer/triton_backend/model.py",
        "tagstream/trainer/triton_backend/tfidf_blend.py",
        "tagstream/cli/__main__.py",
    ):
        assert module in names, module
    # the benchmarks and capacity planning stay in the checkout (bench/): no code of theirs is installed
    assert not [n for n in names if "bench" in n or "capacity" in n], names


def test_the_plain_install_pulls_no_benchmark_dependency(wheel):
    with zipfile.ZipFile(wheel) as z:
        (metadata,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        requires = [line for line in z.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")]
    base = [r for r in requires if "extra ==" not in r]
    assert base and not [r for r in base if "simpy" in r or "psutil" in r or "py-spy" in r], base
    assert [r for r in requires if r.startswith("Requires-Dist: simpy") and 'extra == "bench"' in r], requires


def test_editable_install_imports_from_outside_the_repository(tmp_path):
    code = (
        "import tagstream.stream.app, tagstream.trainer.export, tagstream.cli;"
        "print(tagstream.stream.__file__); print(tagstream.trainer.__file__)"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    stream_init, trainer_init = res.stdout.split()
    assert Path(stream_init) == ROOT / "stream" / "__init__.py"
    assert Path(trainer_init) == ROOT / "trainer" / "__init__.py"
    res = subprocess.run([sys.executable, "-c", "import stream"], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode != 0  # no generic top-level name is installed
