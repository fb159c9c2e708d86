"""Which words of a product's text made the model give each tag: occlusion, word by word.

The text is scored as it is and once more with each word left out; a word's weight for a tag is how
much the tag's score drops without it (negative: the tag gets more likely without the word). It needs
only the model's scores, so the trainer's CLI (in-process model) and the worker (Triton) explain the
same way. Cost: one extra scored text per word (at most `max_words`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_WORDS = 48


def words_of(text: str, max_words: int = MAX_WORDS) -> list[str]:
    """The words that get a weight: the first `max_words` of the text."""
    return text.split()[:max_words]


def occluded_texts(text: str, max_words: int = MAX_WORDS) -> list[str]:
    """The whole text once per explained word, with that word left out (the others all stay)."""
    words = text.split()
    return [" ".join([*words[:i], *words[i + 1 :]]) for i in range(min(max_words, len(words)))]


def word_weights(base: np.ndarray, occluded: np.ndarray, tag_index: int) -> np.ndarray:
    """Per word, the drop of one tag's score when the word is left out."""
    return (base[tag_index] - occluded[:, tag_index]).astype(np.float32)


def top_words(
    base: np.ndarray, occluded: np.ndarray, words: Sequence[str], tag_indices: Sequence[int], top: int = 3
) -> dict[int, list[tuple[str, float]]]:
    """For each tag, its `top` words with the largest positive weight (highest first)."""
    out: dict[int, list[tuple[str, float]]] = {}
    for j in tag_indices:
        w = word_weights(base, occluded, j)
        order = [i for i in np.argsort(-w) if w[i] > 0][:top]
        out[j] = [(words[i], round(float(w[i]), 4)) for i in order]
    return out
