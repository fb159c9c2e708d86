"""`tagstream demo`, the README's first command, end to end on a small stream with a model already in
its repository (training is `tagstream train`'s test): every event accounted for, nothing written
outside its work directory, nothing left in the temporary directory."""

from __future__ import annotations

import os

import pytest

from tagstream.trainer.export import export_model
from tests.conftest import tagstream

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_streams_a_small_catalogue_and_cleans_up(tiny_model, tmp_path):
    repo, work, tmp = tmp_path / "repo", tmp_path / "work", tmp_path / "tmp"
    export_model(tiny_model, repo)
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    res = tagstream(
        "demo", "--repo", str(repo), "--workdir", str(work), "--limit", "40", "--rate", "40", env=env, timeout=600
    )
    out = res.stdout
    # 40 products + 20 re-sent unchanged + 1 delete + 3 broken events
    assert "events sent 64 at ~40/s -> 60 tag events, 1 tombstone, 3 dead letters (all accounted for)" in out, out
    assert "model: serving the latest of versions [1]" in out, out
    assert "stopped worker, tritonserver, redis, tansu" in out, out
    assert not list(tmp.iterdir()), list(tmp.iterdir())  # the worker's Faust data directory was removed
    assert sorted(p.name for p in (repo / "product_tagger").iterdir()) == ["1", "config.pbtxt"]
