import pytest

from tagstream.trainer.label_noise import (
    NO_KEY,
    conflicts_line,
    error_sources,
    error_table,
    shared_texts,
    text_conflicts,
)


def test_copies_of_a_text_tagged_otherwise_are_counted_per_key():
    texts = ["Lee Men Red Shirt", "lee men  RED shirt", "Lee Men Red Shirt", "Titan Watch", "Titan Watch"]
    tags = [
        ["colour:Red", "season:Summer"],
        ["colour:Red", "season:Fall"],
        ["colour:Blue", "season:Summer"],
        ["colour:Silver", "sale"],
        ["colour:Silver"],
    ]
    c = text_conflicts(texts, tags)
    assert (c.n_items, c.shared_text) == (5, 5)
    # shirts: {Red, Summer} x1, {Red, Fall} x1, {Blue, Summer} x1 -> two off the first most common;
    # watches: {Silver, sale} vs {Silver} -> one off
    assert c.off_majority == 3
    by_key = {k.key: (k.items, k.off_majority) for k in c.per_key}
    assert by_key == {"colour": (5, 1), "season": (3, 1), NO_KEY: (1, 1)}
    # majority prediction per tag: shirts get colour:Red (2 of 3) and season:Summer (2 of 3), the
    # watches colour:Silver and not `sale` (1 of 2): of 9 true tags 6 kept and 3 missed, and 2 false
    # positives (the shirt tagged Blue gets Red, the one tagged Fall gets Summer)
    assert c.micro_f1_ceiling == pytest.approx(2 * 6 / (2 * 6 + 2 + 3))
    line = conflicts_line(c.as_dict())
    assert "3 of 5 items" in line and "0.7059" in line and "colour 1" in line


def test_distinct_texts_have_no_conflicts_and_a_perfect_ceiling():
    c = text_conflicts(["a red shirt", "a blue shirt"], [["colour:Red"], ["colour:Blue"]])
    assert (c.shared_text, c.off_majority, c.per_key, c.micro_f1_ceiling) == (0, 0, [], 1.0)
    assert text_conflicts([], []).micro_f1_ceiling == 1.0


def test_copies_tagged_alike_are_no_conflict():
    c = text_conflicts(["x shirt", "X  Shirt"], [["colour:Red", "sale"], ["sale", "colour:Red", "colour:Red"]])
    assert (c.shared_text, c.off_majority, c.per_key, c.micro_f1_ceiling) == (2, 0, [], 1.0)


VOCAB = ["colour:Red", "colour:Blue", "colour:Navy Blue", "season:Summer", "category:Apparel>Shirts", "sale"]


def test_errors_are_split_by_what_the_text_writes():
    texts = [
        "Lee Men Checks Red Shirt",  # gold Blue: the text names only another colour
        "Roadster Navy Blue Shirt",  # gold Navy Blue, predicted Blue: the text names the gold value
        "Boss Men In Motion Perfume",  # gold Blue: no colour written
        "Roadster Red Shirt",  # right: not counted
        "Puma Tee",  # gold has no season, one predicted: the text names no season
    ]
    gold = [["colour:Blue"], ["colour:Navy Blue"], ["colour:Blue", "sale"], ["colour:Red"], ["category:Apparel>Shirts"]]
    predicted = [["colour:Red"], ["colour:Blue"], [], ["colour:Red"], ["category:Apparel>Shirts", "season:Summer"]]
    rows = {e.key: e for e in error_sources(texts, gold, predicted, VOCAB)}
    assert set(rows) == {"colour", NO_KEY, "season"}
    colour = rows["colour"]
    assert (colour.wrong, colour.text_names_gold, colour.text_names_other, colour.text_names_none) == (3, 1, 1, 1)
    assert (rows[NO_KEY].wrong, rows[NO_KEY].text_names_none) == (1, 1)  # `sale` has no value to look for
    assert (rows["season"].wrong, rows["season"].text_names_none) == (1, 1)
    assert [e.key for e in error_sources(texts, gold, predicted, VOCAB)][0] == "colour"  # most errors first


def test_an_exact_model_has_no_error_rows_and_values_match_on_word_boundaries():
    assert error_sources(["a red shirt"], [["colour:Red"]], [["colour:Red"]], VOCAB) == []
    # "Redwood" does not write `Red`, so the miss is one where no colour is written
    (row,) = error_sources(["Redwood Table"], [["colour:Blue"]], [[]], VOCAB)
    assert (row.text_names_other, row.text_names_none) == (0, 1)


def test_error_table_lists_keys_and_cuts_long_lists():
    rows = [
        {"key": f"k{i}", "wrong": 10 - i, "text_names_gold": 1, "text_names_other": 2, "text_names_none": 3}
        for i in range(5)
    ]
    table = error_table(rows, limit=3)
    assert "k0" in table and "k2" in table and "k3" not in table and "2 more keys" in table


def test_shared_texts_counts_items_of_one_list_found_in_the_other_case_and_spacing_aside():
    assert shared_texts(["Red  Shirt", "red shirt", "Blue Shirt", "Tee"], ["RED SHIRT", "tee shirt"]) == 2
    assert shared_texts([], ["a"]) == 0 and shared_texts(["a"], []) == 0


def test_another_value_is_found_with_odd_characters_and_spacing():
    vocab = ["lang:C++", "lang:Go", "colour:Navy  Blue", "colour:Blue"]
    texts = ["Learn C++ fast", "A navy   blue tee", "Blue tee"]
    gold = [["lang:Go"], ["colour:Red"], ["colour:Blue"]]
    predicted = [[], [], ["colour:Navy  Blue"]]
    rows = {e.key: e for e in error_sources(texts, gold, predicted, vocab)}
    # "C++" (regex characters) is another value than the gold "Go"; "navy   blue" is `Navy Blue`
    assert (rows["lang"].text_names_other, rows["lang"].text_names_gold) == (1, 0)
    assert (rows["colour"].wrong, rows["colour"].text_names_other, rows["colour"].text_names_gold) == (2, 1, 1)
