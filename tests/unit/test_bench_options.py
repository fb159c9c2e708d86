"""The stream benchmark's side-by-side options (bench/engine.py): budgets and other model directories."""

import pytest

from bench.engine import parse_budgets, parse_others


def test_budgets_are_comma_separated_token_counts():
    assert parse_budgets("64,128, 256") == (64, 128, 256)
    assert parse_budgets("") == ()
    with pytest.raises(ValueError, match="comma-separated numbers of tokens, not '64,long'"):
        parse_budgets("64,long")
    with pytest.raises(ValueError, match="at least 8 tokens, not 4"):
        parse_budgets("4,64")


def test_other_models_are_label_equals_directory(tmp_path):
    assert parse_others([f"mpnet={tmp_path}"]) == {"mpnet": str(tmp_path)}
    for bad in (f"{tmp_path}", f"two words={tmp_path}", f"x={tmp_path / 'missing'}"):
        with pytest.raises(ValueError, match="--also takes LABEL=DIR"):
            parse_others([bad])
