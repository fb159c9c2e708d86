"""What the quality benchmarks report for a model on a split, and how it compares with a reference."""

from __future__ import annotations

#: the test metrics the benchmarks keep per model
KEYS = ("micro_f1", "macro_f1", "micro_precision", "micro_recall")


def error_cut(model: float, reference: float) -> float:
    """The share of the reference's error (1 - F1) that the model removes (negative: it adds error)."""
    return (model - reference) / (1 - reference)
