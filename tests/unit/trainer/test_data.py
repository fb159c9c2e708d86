import pytest

from tagstream.core.errors import DataError
from tagstream.trainer.batching import length_sorted_batches, unsort
from tagstream.trainer.data import few_shot_subset, load_dataset
from tests.conftest import EXAMPLES


def test_bad_rows_reported_with_line_numbers():
    ds = load_dataset(EXAMPLES / "bad_rows.jsonl")
    assert [it.id for it in ds.items] == ["ok-1", "ok-2"]
    reasons = {r.line: r.reason for r in ds.bad_rows}
    assert set(reasons) == {2, 3, 4, 5, 6, 7}
    assert "invalid JSON" in reasons[2]
    assert reasons[3].startswith("title")
    assert "title is empty" in reasons[4]
    assert "tags must be a list of strings" in reasons[5] and "tags must be a list of strings" in reasons[6]
    assert "not a JSON object" in reasons[7]
    assert str(ds.bad_rows[0]).endswith("bad_rows.jsonl:2: " + reasons[2])


def test_strict_fails_on_first_bad_row():
    with pytest.raises(DataError, match=r"bad_rows.jsonl:2: invalid JSON"):
        load_dataset(EXAMPLES / "bad_rows.jsonl", strict=True)


def test_missing_empty_and_untagged_files(tmp_path, write_jsonl):
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="file is empty"):
        load_dataset(write_jsonl("empty.jsonl", [""]))
    untagged = write_jsonl("untagged.jsonl", ['{"title": "A shirt", "tags": []}'])
    with pytest.raises(DataError, match="no row has any tags"):
        load_dataset(untagged)
    assert len(load_dataset(untagged, require_tags=False).items) == 1
    with pytest.raises(DataError, match="no usable rows"):
        load_dataset(write_jsonl("allbad.jsonl", ["{nope"]))


def test_text_uses_all_fields_and_attribute_values_become_strings(write_jsonl):
    p = write_jsonl(
        "x.jsonl",
        ['{"title": "Desk", "brand": "Ikea", "description": null, "attributes": {"width": 120}, "tags": ["t"]}'],
    )
    item = load_dataset(p).items[0]
    assert item.text == "Desk | brand: Ikea | width: 120"


def test_length_sorted_batches_cover_every_item_once():
    lengths = [5, 1, 9, 3, 3, 7, 2, 8, 6, 4]
    for shuffle in (False, True):
        batches = length_sorted_batches(lengths, 3, shuffle=shuffle, seed=1, pool=2)
        flat = sorted(i for b in batches for i in b)
        assert flat == list(range(10))
    batches = length_sorted_batches(lengths, 3, shuffle=False)
    assert [lengths[i] for i in batches[0]] == [1, 2, 3]
    import numpy as np

    rows = [np.array([[lengths[i]] for i in b], dtype=np.float32) for b in batches]
    np.testing.assert_array_equal(unsort(rows, batches, 10)[:, 0], lengths)


def test_few_shot_caps_items_per_tag():
    ds = load_dataset(EXAMPLES / "catalogue.train.jsonl")
    sub = few_shot_subset(ds.items, 3, seed=0)
    assert 0 < len(sub) < len(ds.items)
    counts = {}
    for it in sub:
        for t in it.tags:
            counts[t] = counts.get(t, 0) + 1
    every_tag = {t for it in ds.items for t in it.tags}
    assert set(counts) == every_tag  # every tag still has examples
