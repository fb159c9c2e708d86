from tagstream.trainer.spans import (
    MIN_FOUND_ITEMS,
    Span,
    bio_labels,
    coverage,
    extractable_keys,
    find_spans,
    span_metrics,
    spans_from_bio,
    split_tag,
)


def test_values_are_found_case_insensitively_on_word_boundaries():
    text = "Roadster Women NAVY BLUE Checked Shirt"
    spans = find_spans(text, ["gender:Men", "gender:Women", "colour:Navy Blue", "category:Apparel>Topwear"])
    assert [(text[s.start : s.end], s.key) for s in spans] == [("Women", "gender"), ("NAVY BLUE", "colour")]


def test_the_longest_value_wins_and_spans_never_overlap():
    text = "Navy Blue shirt, blue trim"
    spans = find_spans(text, ["colour:Blue", "colour:Navy Blue"])
    assert [text[s.start : s.end] for s in spans] == ["Navy Blue", "blue"]


def test_values_with_symbols_and_extra_spaces_match_and_partial_words_do_not():
    assert find_spans("C++  Primer", ["topic:C++ Primer"]) == [Span(0, 11, "topic")]
    assert find_spans("Bluetooth speaker", ["colour:Blue"]) == []
    assert find_spans("", ["colour:Blue"]) == []


def test_keys_filter_and_malformed_tags_are_ignored():
    text = "Men Blue Jeans"
    assert [s.key for s in find_spans(text, ["gender:Men", "colour:Blue"], keys={"colour"})] == ["colour"]
    assert split_tag("novalue:") is None and split_tag("plain") is None and split_tag(":x") is None
    assert split_tag("k: a:b ") == ("k", "a:b")


def test_coverage_decides_which_keys_are_extractable_from_the_data():
    n = MIN_FOUND_ITEMS
    texts = [f"Item {i} Red" for i in range(n)] + [f"Item {i}" for i in range(n)]
    tags = [["colour:Red", "season:Summer"]] * n + [["colour:Red", "season:Summer"]] * n
    cov = {c.key: c for c in coverage(texts, tags)}
    assert (cov["colour"].items, cov["colour"].found) == (2 * n, n) and cov["colour"].extractable
    assert cov["season"].found == 0 and not cov["season"].extractable
    assert extractable_keys(texts[: n - 1], tags[: n - 1]) == []  # one item under the minimum


def test_bio_labels_round_trip_through_token_offsets():
    text = "Men Navy Blue Shirt"
    spans = find_spans(text, ["gender:Men", "colour:Navy Blue"])
    offsets = [(0, 0), (0, 3), (4, 8), (9, 13), (14, 19), (0, 0)]  # [CLS] men navy blue shirt [SEP]
    labels = bio_labels(offsets, spans)
    assert labels == ["O", "B-gender", "B-colour", "I-colour", "O", "O"]
    assert spans_from_bio(offsets, labels) == spans
    # two adjacent spans of one key stay two spans
    adjacent = [Span(0, 3, "k"), Span(4, 8, "k")]
    assert bio_labels(offsets[:3], adjacent) == ["O", "B-k", "B-k"]
    # an I- with no B- before it starts a span
    assert spans_from_bio(offsets[1:3], ["I-k", "I-k"]) == [Span(0, 8, "k")]


def test_span_metrics_count_exact_matches_only():
    gold = [[Span(0, 3, "gender"), Span(4, 13, "colour")], [Span(0, 4, "colour")]]
    pred = [[Span(0, 3, "gender"), Span(9, 13, "colour")], []]
    m = span_metrics(gold, pred)
    assert m["gender"]["f1"] == 1.0
    assert m["colour"]["precision"] == 0.0 and m["colour"]["recall"] == 0.0 and m["colour"]["support"] == 2
    assert m["micro"]["precision"] == 0.5 and m["micro"]["recall"] == 1 / 3
    assert span_metrics([], [])["micro"]["f1"] == 0.0


def test_spans_command_reports_each_key_from_the_data(tmp_path):
    import json

    from tests.conftest import tagstream

    rows = [
        {"id": str(i), "title": f"Acme Men {c} Shirt {i}", "tags": [f"colour:{c}", "gender:Men", "season:Summer"]}
        for i, c in enumerate(["Navy Blue", "Red"] * 15)
    ]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = json.loads(tagstream("spans", "--data", str(data), "--json").stdout)
    keys = {k["key"]: k for k in out["keys"]}
    assert keys["colour"]["found"] == 30 and keys["colour"]["extractable"]
    assert keys["season"]["found"] == 0 and not keys["season"]["extractable"]
    text = tagstream("spans", "--data", str(data), "--show", "1").stdout
    assert "colour='Navy Blue'" in text and "gender='Men'" in text
    missing = tagstream("spans", "--data", str(tmp_path / "no.jsonl"), check=False)
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr


def test_decoded_spans_cover_whole_words_and_carry_scores():
    import numpy as np

    from tagstream.trainer.extraction import decode, label_set

    labels = label_set(["colour", "gender"])  # O B-colour I-colour B-gender I-gender
    text = "Nike Women Teal Shoes"
    offsets = [(0, 0), (0, 4), (5, 10), (11, 14), (14, 15), (16, 21), (0, 0)]  # ... tea ##l ...
    probs = np.full((len(offsets), len(labels)), 0.01)
    for i, j in enumerate([0, 0, 3, 1, 0, 0, 0]):  # "tea" marked, "##l" not
        probs[i, j] = 0.9
    found = decode(text, offsets, probs, labels)
    assert [(e.key, e.value, e.start, e.end) for e in found] == [("gender", "Women", 5, 10), ("colour", "Teal", 11, 15)]
    assert all(0 < e.score <= 1 for e in found)


def test_the_served_decoding_is_the_trainers():
    import re

    import numpy as np

    from tagstream.trainer.extraction import decode, label_set
    from tagstream.trainer.triton_backend.model import decode_attributes

    labels = label_set(["colour", "gender", "brand"])
    rng = np.random.default_rng(0)
    text = "Acme Women Navy Blue Tealish Shirt-Dress by Co 42"
    # word pieces of the text, with special tokens around
    offsets = [(0, 0)] + [(m.start(), m.end()) for m in re.finditer(r"\w{1,3}|[^\w\s]", text)] + [(0, 0)]
    for _ in range(200):
        probs = rng.dirichlet(np.full(len(labels), 0.3), size=len(offsets))
        want = [e.as_dict() for e in decode(text, offsets, probs, labels)]
        assert decode_attributes(text, offsets, probs, labels) == want
