import numpy as np

from tagstream.core.explain import occluded_texts, top_words, word_weights, words_of


def test_each_word_is_left_out_once():
    assert occluded_texts("Navy Blue Shirt") == ["Blue Shirt", "Navy Shirt", "Navy Blue"]
    long_text = " ".join(f"w{i}" for i in range(100))
    assert len(words_of(long_text)) == 48 and len(occluded_texts(long_text)) == 48
    assert occluded_texts(long_text)[0] == " ".join(f"w{i}" for i in range(1, 100))  # every other word stays


def test_weights_are_the_score_drop_without_the_word():
    base = np.array([0.9, 0.2])
    occluded = np.array([[0.1, 0.2], [0.85, 0.5], [0.9, 0.1]])  # without word 0 tag 0 collapses
    np.testing.assert_allclose(word_weights(base, occluded, 0), [0.8, 0.05, 0.0], atol=1e-6)
    tops = top_words(base, occluded, ["Blue", "Men", "Shirt"], [0, 1], top=2)
    assert tops[0] == [("Blue", 0.8), ("Men", 0.05)]
    assert tops[1] == [("Shirt", 0.1)]  # only words that speak for the tag
