"""Multi-label metrics and the per-tag classification report."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_fscore_support


def multilabel_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Micro, macro and samples precision/recall/F1.

    Macro averages over the tags that occur in `y_true` (a tag absent from the evaluation data has
    no defined recall, and sklearn would count it as 0). Samples averages over items.
    """
    y_true = np.asarray(y_true, dtype=np.int8)
    y_pred = np.asarray(y_pred, dtype=np.int8)
    out: dict[str, float] = {}
    present = np.nonzero(y_true.sum(0) > 0)[0]
    for avg in ("micro", "macro", "samples"):
        labels = present if avg == "macro" else None
        if avg == "macro" and len(present) == 0:
            p = r = f = 0.0
        else:
            p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=avg, labels=labels, zero_division=0)
        out[f"{avg}_precision"] = float(p)
        out[f"{avg}_recall"] = float(r)
        out[f"{avg}_f1"] = float(f)
    out["n_items"] = int(y_true.shape[0])
    out["n_tags"] = int(y_true.shape[1])
    out["n_tags_present"] = int(len(present))
    return out


def per_tag_report(y_true: np.ndarray, y_pred: np.ndarray, tags: list[str]) -> list[dict]:
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    predicted = np.asarray(y_pred).sum(0)
    return [
        {
            "tag": t,
            "precision": float(p[j]),
            "recall": float(r[j]),
            "f1": float(f[j]),
            "support": int(s[j]),
            "predicted": int(predicted[j]),
        }
        for j, t in enumerate(tags)
    ]


def format_report(rows: list[dict], limit: int | None = None) -> str:
    rows = sorted(rows, key=lambda r: (-r["support"], r["tag"]))
    if limit:
        rows = rows[:limit]
    width = max([len(r["tag"]) for r in rows] + [3])
    width = min(width, 70)
    lines = [f"{'tag':<{width}}  precision  recall     f1  support"]
    for r in rows:
        tag = r["tag"] if len(r["tag"]) <= width else r["tag"][: width - 1] + "…"
        lines.append(f"{tag:<{width}}  {r['precision']:9.3f}  {r['recall']:6.3f}  {r['f1']:5.3f}  {r['support']:7d}")
    return "\n".join(lines)
