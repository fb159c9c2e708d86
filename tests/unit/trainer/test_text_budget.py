"""`--max-length auto` (trainer.text_budget): which budgets are tried, and which one wins."""

from __future__ import annotations

import numpy as np
import pytest

from tagstream.trainer.text_budget import (
    BudgetTrial,
    best_budget,
    budgets_to_try,
    choose_budget,
    longer_shares,
)


def test_titles_only_try_the_shortest_budget_alone():
    shares = longer_shares([12, 20, 31, 64, 40] * 20)  # no text is longer than 64 tokens
    assert shares == {64: 0.0, 128: 0.0, 256: 0.0}
    assert budgets_to_try(shares) == [64]


def test_a_longer_budget_is_tried_only_when_enough_texts_need_it():
    counts = [30] * 90 + [100] * 9 + [200]  # 10 % longer than 64, 1 % longer than 128
    shares = longer_shares(counts)
    assert shares == {64: pytest.approx(0.10), 128: pytest.approx(0.01), 256: 0.0}
    assert budgets_to_try(shares) == [64, 128]
    assert budgets_to_try(shares, min_share=0.005) == [64, 128, 256]
    assert budgets_to_try(longer_shares([100] * 99 + [20])) == [64, 128]  # 128 fits all: 256 adds nothing
    assert budgets_to_try(longer_shares([])) == [64]


def _trial(length: int, micro: float | None, macro: float | None = None) -> BudgetTrial:
    return BudgetTrial(max_length=length, longer_share=0.0, micro_f1=micro, macro_f1=micro if macro is None else macro)


def test_a_longer_budget_must_add_the_minimum_gain_to_win():
    assert best_budget([_trial(64, 0.80), _trial(128, 0.8005), _trial(256, None)]) == 64  # a tie: the cheaper
    assert best_budget([_trial(64, 0.80), _trial(128, 0.81)]) == 128
    # 256 is measured against the best so far (128), not against 64
    assert best_budget([_trial(64, 0.80), _trial(128, 0.81), _trial(256, 0.8105)]) == 128
    assert best_budget([_trial(64, 0.80), _trial(128, 0.79), _trial(256, 0.82)]) == 256
    with pytest.raises(ValueError, match="no budget was tried"):
        best_budget([_trial(64, None)])


def test_choose_budget_trains_each_budget_worth_it_and_keeps_the_winner():
    rng = np.random.default_rng(0)
    y = (rng.random((400, 6)) < 0.3).astype(np.int8)
    # the longer the budget, the cleaner the scores: 64 is noisy, 128 and 256 nearly perfect (a tie)
    noise = {64: 0.6, 128: 0.05, 256: 0.05}
    trained: list[int] = []

    def train_with(budget: int):
        trained.append(budget)
        scores = np.clip(y + rng.normal(0, noise[budget], y.shape), 0, 1)
        return f"model-{budget}", scores, 1.0

    counts = [30] * 50 + [100] * 30 + [200] * 20
    lines: list[str] = []
    model, choice = choose_budget(
        counts, train_with, y, [f"t{i}" for i in range(6)], min_support=3, seed=1, echo=lines.append
    )
    assert trained == [64, 128, 256]
    assert model == "model-128" and choice.max_length == 128
    trials = {t.max_length: t for t in choice.trials}
    assert trials[128].micro_f1 > trials[64].micro_f1 + 0.1
    assert "trying 64, 128, 256" in lines[0] and lines[-1] == "  chosen: --max-length 128"

    trained.clear()
    model, choice = choose_budget([20] * 100, train_with, y, [f"t{i}" for i in range(6)], min_support=3, seed=1)
    assert trained == [64] and model == "model-64"
    assert [t.tried for t in choice.trials] == [True, False, False]
