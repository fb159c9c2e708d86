"""Decision thresholds tuned on validation: a global one, and per tag where validation has enough
positives to trust it (others fall back to the global one)."""

from __future__ import annotations

import numpy as np

from tagstream.core.artifact import Thresholds

GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def best_global_threshold(y_true: np.ndarray, probs: np.ndarray, grid: np.ndarray = GRID) -> tuple[float, float]:
    """The grid threshold with the best micro-F1, and that F1."""
    y = y_true.astype(bool)
    best_t, best_f = 0.5, -1.0
    for t in grid:
        pred = probs >= t
        tp = np.logical_and(pred, y).sum()
        fp = np.logical_and(pred, ~y).sum()
        fn = np.logical_and(~pred, y).sum()
        f = float(_f1(np.array(tp), np.array(fp), np.array(fn)))
        if f > best_f:
            best_t, best_f = float(t), f
    return best_t, best_f


def tune_thresholds(
    y_true: np.ndarray, probs: np.ndarray, tags: list[str], *, min_support: int = 3, grid: np.ndarray = GRID
) -> Thresholds:
    """Global threshold by micro-F1; per tag, the grid value with the best F1 for that tag, for tags
    with at least `min_support` positives on validation. Ties go to the threshold nearest the global
    one, so a tag with flat F1 keeps the global behaviour."""
    global_t, _ = best_global_threshold(y_true, probs, grid)
    y = y_true.astype(bool)
    support = y.sum(0)
    per_tag: dict[str, float] = {}
    preds = probs[None, :, :] >= grid[:, None, None]  # (grid, items, tags)
    tp = np.logical_and(preds, y[None]).sum(1)
    fp = np.logical_and(preds, ~y[None]).sum(1)
    fn = np.logical_and(~preds, y[None]).sum(1)
    f1 = _f1(tp, fp, fn)  # (grid, tags)
    distance = np.abs(grid - global_t)
    for j, tag in enumerate(tags):
        if support[j] < min_support:
            continue
        best = f1[:, j].max()
        candidates = np.nonzero(np.isclose(f1[:, j], best))[0]
        k = candidates[np.argmin(distance[candidates])]
        per_tag[tag] = float(grid[k])
    return Thresholds(**{"global": global_t, "per_tag": per_tag})
