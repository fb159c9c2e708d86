import numpy as np

from tagstream.core.hierarchy import TagHierarchy

TRAIN = [
    ["category:A", "category:A>B", "category:A>B>C", "gender:Men", "colour:Red", "colour:Blue"],
    ["category:A", "category:A>B", "gender:Women", "colour:Red"],
    ["category:A", "category:A>D", "gender:Men"],
    ["category:E", "category:E>F", "gender:Women", "colour:Blue"],
]
VOCAB = sorted({t for ts in TRAIN for t in ts})


def test_learns_the_tree_and_the_exclusive_groups_from_the_data():
    h = TagHierarchy.learn(TRAIN, VOCAB)
    assert h.parent == {
        "category:A>B": "category:A",
        "category:A>B>C": "category:A>B",
        "category:A>D": "category:A",
        "category:E>F": "category:E",
    }
    groups = {tuple(g) for g in h.exclusive_groups}
    assert ("category:A", "category:E") in groups  # one category path per item
    assert ("category:A>B", "category:A>D") in groups
    assert ("gender:Men", "gender:Women") in groups  # one gender per item: the data says so
    assert ("colour:Blue", "colour:Red") not in groups  # an item had two colours


def test_a_named_parent_the_data_contradicts_is_no_parent():
    h = TagHierarchy.learn([["x:P>Q"], ["x:P>Q"], ["x:P", "x:P>Q"]], ["x:P", "x:P>Q"])
    assert h.parent == {}


def test_prune_and_complete_make_predictions_consistent():
    h = TagHierarchy.learn(TRAIN, VOCAB)
    tags = VOCAB
    j = {t: i for i, t in enumerate(tags)}
    scores = np.zeros((1, len(tags)))
    pred = np.zeros((1, len(tags)), dtype=bool)
    for t, s in {
        "category:A>B>C": 0.9,
        "category:A>B": 0.8,
        "gender:Men": 0.7,
        "gender:Women": 0.6,
        "category:E": 0.55,
    }.items():
        scores[0, j[t]], pred[0, j[t]] = s, True
    assert h.inconsistency_rate(pred, tags) == 1.0
    pruned = h.apply(pred, scores, tags, "prune")[0]
    assert {t for t in tags if pruned[j[t]]} == {"category:E", "gender:Men"}  # the A branch has no root
    completed = h.apply(pred, scores, tags, "complete")[0]
    assert {t for t in tags if completed[j[t]]} == {"category:A>B>C", "category:A>B", "category:A", "gender:Men"}
    for mode in ("prune", "complete"):
        assert h.inconsistency_rate(h.apply(pred, scores, tags, mode), tags) == 0.0
    assert (h.apply(pred, scores, tags, "none") == pred).all()


def test_round_trips_through_json(tmp_path):
    h = TagHierarchy.learn(TRAIN, VOCAB).with_mode("prune")
    h.save(tmp_path)
    assert TagHierarchy.load(tmp_path) == h
    assert TagHierarchy.from_json(h.model_dump_json()) == h
