"""The served TF-IDF scores (numpy alone) against scikit-learn's, and choosing the blend weight."""

import json

import numpy as np
import pytest

from tagstream.core.artifact import TagVocabulary
from tagstream.core.errors import ArtifactError
from tagstream.trainer.baselines import TfidfBaseline
from tagstream.trainer.blend import blend_config, choose_blend, load_blend, transformer_thresholds, write_blend
from tagstream.trainer.data import load_dataset
from tagstream.trainer.selection import MIN_GAIN
from tagstream.trainer.triton_backend.tfidf_blend import Blend, TfidfFormatError, TfidfScorer
from tests.conftest import EXAMPLES

ODD_TEXTS = [
    "",
    " ",
    "x",
    "a b c",  # tokens of one letter: no word feature at all
    "Roadster Men Navy Blue Checked Casual Shirt",
    "ROADSTER   men\tnavy\n\nblue  SHIRT",  # case and runs of white space
    "Crème brûlée ŞİŞE İstanbul straße",  # accents, dotted capital I (lowercases to two code points)
    "Ｆｕｌｌｗｉｄｔｈ ＳＨＩＲＴ 東京 日本語テキスト",
    "😀 🎉 emoji-only!! ??",
    "shirt shirt shirt shirt shirt",  # repeated terms: sublinear tf
    "Samsung Galaxy M31 (Ocean Blue, 6GB RAM, 128GB Storage) 6000 mAh battery",
    "word " * 2000,  # long
    "\u200b\u00a0zero\u200bwidth and no-break\u00a0spaces",
    "under_score and digits 42 4k",
]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    train = load_dataset(EXAMPLES / "catalogue.train.jsonl", max_items=300)
    val = load_dataset(EXAMPLES / "catalogue.val.jsonl", max_items=80)
    lists = [[*t, "everything"] for t in train.tag_lists]  # a constant predictor too
    vocab = TagVocabulary.build(lists, 3)
    y, y_val = vocab.encode(lists), vocab.encode([[*t, "everything"] for t in val.tag_lists])
    y[:, -1] = 0  # the last tag has no train positives: the reference cannot fit it
    model = TfidfBaseline(n_jobs=1).fit(train.texts, y, val.texts, y_val, vocab.tags)
    directory = tmp_path_factory.mktemp("tfidf")
    model.save(directory)
    return model, directory, vocab.tags, val.texts


def test_numpy_scores_match_scikit_learn_on_unusual_texts(fitted):
    model, directory, tags, val_texts = fitted
    scorer = TfidfScorer(directory)
    texts = [*ODD_TEXTS, *val_texts]
    np.testing.assert_allclose(scorer.scores(texts), model.scores(texts), atol=1e-3)  # half-precision weights
    assert scorer.tags == tags
    assert scorer.scores([]).shape == (0, len(tags))
    assert (scorer.scores(["anything"])[:, -1] == 0).all()  # the unfitted tag scores 0


def test_blend_weights_each_tag_the_reference_scores(fitted, tmp_path):
    _, directory, tags, val_texts = fitted
    write_blend(directory, 0.7, ".")
    extra = [*tags, "added-later"]  # a tag added after training: the reference does not score it
    blend = Blend.of(directory, extra)
    assert blend is not None and blend.weight == 0.7
    transformer = np.full((3, len(extra)), 0.5, dtype=np.float32)
    got = blend(val_texts[:3], transformer)
    want = TfidfScorer(directory).scores(val_texts[:3])
    fitted_cols = [j for j, t in enumerate(tags) if t != tags[-1]]
    np.testing.assert_allclose(got[:, fitted_cols], 0.7 * 0.5 + 0.3 * want[:, fitted_cols], atol=1e-6)
    assert (got[:, -2:] == 0.5).all()  # the unfitted tag and the added one: the transformer alone
    assert Blend.of(tmp_path, tags) is None


@pytest.mark.parametrize(
    "config",
    [
        json.dumps({"format": 2, "weight": 0.5}),
        json.dumps({"format": 1, "weight": 1.5}),
        json.dumps({"format": 1, "weight": -0.1}),
        json.dumps({"format": 1}),
        json.dumps([1, 0.5]),
        '{"format": 1, "weight": 0.5',  # cut short
    ],
)
def test_a_bad_blend_file_is_refused(fitted, tmp_path, config):
    _, directory, tags, _ = fitted
    for name in ("tfidf.json", "tfidf.safetensors"):
        (tmp_path / name).write_bytes((directory / name).read_bytes())
    (tmp_path / "blend.json").write_text(config)
    with pytest.raises(TfidfFormatError):
        Blend.of(tmp_path, tags)
    with pytest.raises(ArtifactError, match="blend.json"):  # the trainer's commands: one line
        transformer_thresholds(tmp_path)
    with pytest.raises(ArtifactError, match="blend.json"):
        load_blend(tmp_path, tags)
    with pytest.raises(ArtifactError, match="blend.json"):  # what export reads
        blend_config(tmp_path)


def _labels(rng, n, k=6):
    return (rng.random((n, k)) < 0.3).astype(np.float32)


def test_the_blend_is_chosen_when_each_model_knows_what_the_other_misses():
    rng = np.random.default_rng(0)
    y = _labels(rng, 600)
    noise = lambda: rng.random(y.shape) * 0.6  # noqa: E731
    transformer = np.where(np.arange(6) < 3, y * 0.5 + noise(), noise()).astype(np.float32)  # knows tags 0-2
    tfidf = np.where(np.arange(6) >= 3, y * 0.5 + noise(), noise()).astype(np.float32)  # knows tags 3-5
    choice = choose_blend(y, transformer, tfidf, np.ones(6, bool), [str(i) for i in range(6)], min_support=3, seed=1)
    assert 0.0 < choice.weight < 1.0 and choice.served and choice.gain >= MIN_GAIN
    assert [s.weight for s in choice.table][:2] == [1.0, 0.9] and len(choice.table) == 11


def test_no_blend_when_the_reference_adds_nothing():
    rng = np.random.default_rng(0)
    y = _labels(rng, 600)
    transformer = (y * 0.6 + rng.random(y.shape) * 0.5).astype(np.float32)
    tfidf = rng.random(y.shape).astype(np.float32)  # noise
    choice = choose_blend(y, transformer, tfidf, np.ones(6, bool), [str(i) for i in range(6)], min_support=3, seed=1)
    assert not choice.served
    # and tags it does not score keep the transformer whatever the weight
    choice = choose_blend(y, transformer, tfidf, np.zeros(6, bool), [str(i) for i in range(6)], min_support=3, seed=1)
    assert not choice.served and choice.gain == 0.0
