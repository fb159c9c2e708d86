import numpy as np
import pytest
from pydantic import ValidationError

from tagstream.core.artifact import TagVocabulary, Thresholds, decode_tags


def test_vocabulary_keeps_tags_with_min_support_most_frequent_first():
    lists = [["a", "b"], ["a"], ["a", "c"], ["b"], ["a", "a"]]
    v = TagVocabulary.build(lists, min_count=2)
    assert v.tags == ["a", "b"]
    assert v.support == {"a": 4, "b": 2}  # a duplicate tag in one item counts once
    assert v.dropped == {"c": 1}


def test_encode_ignores_unknown_tags():
    v = TagVocabulary(tags=["x", "y"])
    y = v.encode([["y", "zzz"], []])
    np.testing.assert_array_equal(y, [[0, 1], [0, 0]])


def test_vocabulary_rejects_duplicates_and_roundtrips(tmp_path):
    with pytest.raises(ValidationError):
        TagVocabulary(tags=["a", "a"])
    v = TagVocabulary.build([["a"], ["a"], ["b"]], 1)
    v.save(tmp_path)
    assert TagVocabulary.load(tmp_path) == v


def test_thresholds_vector_falls_back_to_global(tmp_path):
    t = Thresholds(**{"global": 0.4, "per_tag": {"b": 0.7}})
    np.testing.assert_allclose(t.vector(["a", "b"]), [0.4, 0.7])
    t.save(tmp_path)
    assert Thresholds.load(tmp_path) == t
    assert '"global"' in (tmp_path / "thresholds.json").read_text()


def test_decode_tags_sorts_by_score_and_applies_each_threshold():
    out = decode_tags(np.array([[0.5, 0.9, 0.65]]), ["a", "b", "c"], np.array([0.5, 0.95, 0.6]))
    assert out == [[("c", pytest.approx(0.65)), ("a", 0.5)]]
