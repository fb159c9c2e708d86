"""The validation score every training choice is made by."""

import math

import pytest

from tagstream.trainer.selection import MIN_GAIN, validation_score


def test_a_tenth_less_error_counts_the_same_on_micro_and_macro():
    base = validation_score(0.96, 0.88)
    micro_cut = validation_score(1 - 0.04 * 0.9, 0.88)  # micro-F1 error 0.04 -> 0.036
    macro_cut = validation_score(0.96, 1 - 0.12 * 0.9)  # macro-F1 error 0.12 -> 0.108
    assert micro_cut - base == pytest.approx(macro_cut - base) == pytest.approx(-math.log(0.9))


def test_a_point_of_micro_f1_outweighs_a_point_of_macro_f1_when_micro_is_the_higher():
    # the trade micro+macro-F1 calls a tie: +0.003 micro, -0.003 macro
    assert validation_score(0.963, 0.877) > validation_score(0.96, 0.88)
    # and the gain is about the relative cuts summed: 0.003/0.04 - 0.003/0.12
    assert validation_score(0.963, 0.877) - validation_score(0.96, 0.88) == pytest.approx(0.05, abs=0.01)


def test_perfect_scores_stay_finite_and_ordered():
    assert math.isfinite(validation_score(1.0, 1.0))
    assert validation_score(1.0, 1.0) > validation_score(0.999, 1.0) > validation_score(0.99, 1.0)


def test_the_minimum_gain_is_about_two_percent_less_error():
    assert validation_score(1 - 0.04 * 0.98, 0.88) - validation_score(0.96, 0.88) == pytest.approx(MIN_GAIN, rel=0.02)
