import numpy as np

from tagstream.trainer.thresholds import best_global_threshold, tune_thresholds


def test_global_threshold_separates_scores():
    y = np.array([[1], [1], [0], [0]])
    p = np.array([[0.8], [0.7], [0.3], [0.2]])
    t, f1 = best_global_threshold(y, p)
    assert 0.3 < t <= 0.7 and f1 == 1.0


def test_per_tag_thresholds_and_fallback_for_low_support():
    rng = np.random.default_rng(0)
    n = 200
    y = np.zeros((n, 3), dtype=np.float32)
    y[:100, 0] = 1  # tag a: positives score ~0.2, negatives ~0.05 -> needs a low threshold
    y[:100, 1] = 1  # tag b: positives ~0.9, negatives ~0.6 -> needs a high threshold
    y[0, 2] = 1  # tag c: one positive only -> global fallback
    p = np.zeros_like(y)
    p[:, 0] = np.where(y[:, 0] == 1, 0.2, 0.05) + rng.normal(0, 0.01, n)
    p[:, 1] = np.where(y[:, 1] == 1, 0.9, 0.6) + rng.normal(0, 0.01, n)
    p[:, 2] = 0.5
    th = tune_thresholds(y, p, ["a", "b", "c"], min_support=3)
    assert 0.05 < th.per_tag["a"] <= 0.2
    assert 0.6 < th.per_tag["b"] <= 0.9
    assert "c" not in th.per_tag
    assert th.vector(["c"])[0] == th.global_
