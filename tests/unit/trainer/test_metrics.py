import numpy as np
import pytest

from tagstream.trainer.metrics import format_report, multilabel_metrics, per_tag_report


def test_metrics_by_hand():
    y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0]])
    p = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0]])
    m = multilabel_metrics(y, p)
    # micro: tp=3, fp=1, fn=1
    assert m["micro_precision"] == pytest.approx(0.75)
    assert m["micro_recall"] == pytest.approx(0.75)
    assert m["micro_f1"] == pytest.approx(0.75)
    # macro over the two tags present in y: tag0 f1=1, tag1 p=.5 r=.5 f1=.5
    assert m["macro_f1"] == pytest.approx(0.75)
    # samples: item f1s = 2/3, 2/3, 1
    assert m["samples_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert (m["n_items"], m["n_tags"], m["n_tags_present"]) == (3, 3, 2)


def test_per_tag_report_rows():
    y = np.array([[1, 0], [1, 1]])
    p = np.array([[1, 0], [0, 1]])
    rows = per_tag_report(y, p, ["a", "b"])
    assert rows[0] == {
        "tag": "a",
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
        "predicted": 1,
    }
    text = format_report(rows)
    assert text.splitlines()[1].startswith("a ")
