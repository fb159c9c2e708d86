"""`--max-length auto`: the model's token budget, chosen on validation.

The model reads `title | brand | attributes | description` (`tagstream.core.text.model_text`),
truncated from the end, so a budget keeps the title, brand and attributes first and as much of the
description as fits. A longer budget costs more per event, served and trained, and changes nothing
for a text that already fits a shorter one. So:

- a budget of `CANDIDATES` is tried only when at least `MIN_LONGER_SHARE` of the train texts are
  longer than the budget before it (the shortest is always tried): on a titles-only catalogue only
  the shortest is, at no extra cost;
- each budget tried is a full training run, scored on validation by the same two-fold
  cross-validation as the blend (`trainer.blend.cross_validated_f1`: thresholds tuned on one half,
  micro- and macro-F1 measured on the other, scored as one by `trainer.selection`);
- a longer budget wins only if its score beats the best shorter one's by `MIN_GAIN`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
from pydantic import BaseModel

from tagstream.trainer.blend import cross_validated_f1
from tagstream.trainer.selection import MIN_GAIN, validation_score

#: the budgets `--max-length auto` chooses from, in tokens
CANDIDATES = (64, 128, 256)
#: a longer budget is tried only when this share of train texts is longer than the budget before it
MIN_LONGER_SHARE = 0.02

R = TypeVar("R")


class BudgetTrial(BaseModel):
    max_length: int
    longer_share: float  # share of train texts longer than this budget (truncated by it)
    micro_f1: float | None = None  # validation, two-fold cross-validated; None when not tried
    macro_f1: float | None = None
    train_seconds: float | None = None

    @property
    def tried(self) -> bool:
        return self.micro_f1 is not None


class BudgetChoice(BaseModel):
    max_length: int
    trials: list[BudgetTrial]


def longer_shares(token_counts: Sequence[int], budgets: Sequence[int] = CANDIDATES) -> dict[int, float]:
    """For each budget, the share of texts with more tokens than it."""
    counts = np.asarray(token_counts)
    return {b: float((counts > b).mean()) if len(counts) else 0.0 for b in budgets}


def budgets_to_try(shares: dict[int, float], min_share: float = MIN_LONGER_SHARE) -> list[int]:
    """The shortest budget, and each longer one whose shorter neighbour truncates >= min_share of the texts."""
    budgets = sorted(shares)
    tried = budgets[:1]
    for shorter, longer in zip(budgets, budgets[1:], strict=False):
        if shares[shorter] < min_share:
            break
        tried.append(longer)
    return tried


def best_budget(trials: Sequence[BudgetTrial], min_gain: float = MIN_GAIN) -> int:
    """The shortest tried budget, unless a longer one's validation score beats the best so far by `min_gain`."""
    tried = sorted((t for t in trials if t.tried), key=lambda t: t.max_length)
    if not tried:
        raise ValueError("no budget was tried")
    best = tried[0]
    for t in tried[1:]:
        if _score(t) >= _score(best) + min_gain:
            best = t
    return best.max_length


def _score(t: BudgetTrial) -> float:
    assert t.micro_f1 is not None and t.macro_f1 is not None
    return validation_score(t.micro_f1, t.macro_f1)


def choose_budget(
    token_counts: Sequence[int],
    train_with: Callable[[int], tuple[R, np.ndarray, float]],
    y_val: np.ndarray,
    tags: list[str],
    *,
    min_support: int,
    seed: int,
    echo: Callable[[str], object] = print,
) -> tuple[R, BudgetChoice]:
    """Train with each budget worth trying (`train_with(budget)` -> (result, validation scores,
    seconds)) and keep the chosen one's result; the others are dropped as soon as they lose."""
    shares = longer_shares(token_counts)
    to_try = budgets_to_try(shares)
    echo(
        "--max-length auto: train texts longer than "
        + ", ".join(f"{b} tokens: {shares[b]:.1%}" for b in shares)
        + f"; trying {', '.join(map(str, to_try))}"
    )
    trials = {b: BudgetTrial(max_length=b, longer_share=shares[b]) for b in shares}
    kept: tuple[int, R] | None = None
    for budget in to_try:
        result, val_scores, seconds = train_with(budget)
        micro, macro = cross_validated_f1(y_val, val_scores, tags, min_support=min_support, seed=seed)
        trials[budget] = trials[budget].model_copy(
            update={"micro_f1": micro, "macro_f1": macro, "train_seconds": round(seconds, 1)}
        )
        echo(f"  max length {budget}: validation micro-F1 {micro:.4f}  macro-F1 {macro:.4f} (cross-validated)")
        best = best_budget(list(trials.values()))
        if best == budget:
            kept = (budget, result)
        del result
    assert kept is not None
    chosen = kept[0]
    echo(f"  chosen: --max-length {chosen}")
    return kept[1], BudgetChoice(max_length=chosen, trials=list(trials.values()))
