import pickle

import numpy as np

from tagstream.core.artifact import TagVocabulary
from tagstream.trainer.baselines import TfidfBaseline
from tagstream.trainer.data import load_dataset
from tests.conftest import EXAMPLES


def test_tfidf_reference_round_trips_without_pickle(tmp_path, monkeypatch):
    train = load_dataset(EXAMPLES / "catalogue.train.jsonl", max_items=300)
    val = load_dataset(EXAMPLES / "catalogue.val.jsonl", max_items=80)
    lists = [[*t, "everything"] for t in train.tag_lists]  # one tag on every item: a constant predictor
    vocab = TagVocabulary.build(lists, 3)
    y, y_val = vocab.encode(lists), vocab.encode([[*t, "everything"] for t in val.tag_lists])
    model = TfidfBaseline(n_jobs=1).fit(train.texts, y, val.texts, y_val, vocab.tags)
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tfidf.json", "tfidf.safetensors"]

    def no_pickle(*args, **kwargs):
        raise AssertionError("a model directory must load without unpickling")

    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(pickle, "load", no_pickle)
    loaded = TfidfBaseline.load(tmp_path)
    np.testing.assert_allclose(loaded.scores(val.texts), model.scores(val.texts), atol=1e-5)
    assert loaded.thresholds == model.thresholds and loaded.tags == vocab.tags
    assert loaded.scores(["anything"])[0, vocab.tags.index("everything")] > 0.99


def test_tfidf_reference_fits_the_same_from_labels_of_any_dtype():
    train = load_dataset(EXAMPLES / "catalogue.train.jsonl", max_items=300)
    val = load_dataset(EXAMPLES / "catalogue.val.jsonl", max_items=80)
    # more than 127 tags: scikit-learn numbers the tag columns in the labels' dtype, so int8 wraps around
    lists = [[*t, f"extra:{i % 150}"] for i, t in enumerate(train.tag_lists)]
    vocab = TagVocabulary.build(lists, 2)
    assert len(vocab) > 127
    y, y_val = vocab.encode(lists), vocab.encode(val.tag_lists)
    want = TfidfBaseline(n_jobs=1).fit(train.texts, y, val.texts, y_val, vocab.tags).scores(val.texts)
    for dtype in (np.int8, bool):
        got = TfidfBaseline(n_jobs=1).fit(train.texts, y.astype(dtype), val.texts, y_val, vocab.tags)
        np.testing.assert_allclose(got.scores(val.texts), want, atol=1e-6)
