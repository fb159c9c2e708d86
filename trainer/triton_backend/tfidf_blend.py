"""The served blend of the fine-tuned model with the TF-IDF reference, and the TF-IDF scores it needs,
with numpy alone (the Triton model has no scikit-learn).

A version that blends holds `blend.json` ({"format": 1, "weight": w, "tfidf_dir": "."}) and the
reference's data files `tfidf.json` + `tfidf.safetensors`. Its scores are, per tag,
`w * transformer + (1 - w) * tfidf`; a tag the TF-IDF reference does not score (one added later by
`tagstream add-tag`) keeps the transformer's score.

The features are scikit-learn's `TfidfVectorizer` ones, rebuilt term by term: lowercase; word n-grams
from the `(?u)\\b\\w\\w+\\b` tokens, or `char_wb` n-grams of each space-padded word; sublinear tf
(1 + log count); times the IDF; L2 norm per vectorizer. The word and char features are stacked and
scored by the one-vs-rest logistic regressions stored as one matrix (held in half precision). A unit
test compares the scores with scikit-learn's on unusual texts.

Self-contained (numpy and safetensors only): Triton's python backend loads this file from the
version directory.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np

BLEND_FILE = "blend.json"
TFIDF_CONFIG = "tfidf.json"
TFIDF_WEIGHTS = "tfidf.safetensors"
#: characters of a text the TF-IDF reads: bounds the work a huge input causes (a title and a long
#: description fit many times over)
MAX_TEXT_CHARS = 20_000
_WHITE_SPACES = re.compile(r"\s\s+")
_DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


class TfidfFormatError(Exception):
    """The TF-IDF files are not what this scorer reads."""


class _Vectorizer:
    """One fitted TfidfVectorizer: its analyzer, vocabulary and IDF."""

    def __init__(self, params: dict, vocabulary: dict[str, int], idf: np.ndarray, offset: int):
        self.analyzer = params.get("analyzer", "word")
        if self.analyzer not in ("word", "char_wb"):
            raise TfidfFormatError(f"analyzer {self.analyzer!r} is not served (word or char_wb)")
        self.min_n, self.max_n = (int(n) for n in params.get("ngram_range", (1, 1)))
        self.lowercase = bool(params.get("lowercase", True))
        self.sublinear = bool(params.get("sublinear_tf", False))
        self.tokens = re.compile(params.get("token_pattern") or _DEFAULT_TOKEN_PATTERN)
        self.vocabulary = vocabulary
        self.idf = idf.astype(np.float64)
        self.offset = offset  # this vectorizer's first column in the stacked features
        if len(self.idf) != len(vocabulary):
            raise TfidfFormatError(f"{self.analyzer}: {len(vocabulary)} terms but {len(self.idf)} IDF weights")

    def terms(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        if self.analyzer == "word":
            tokens = self.tokens.findall(text)
            grams = list(tokens) if self.min_n == 1 else []
            for n in range(max(self.min_n, 2), min(self.max_n, len(tokens)) + 1):
                grams += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
            return grams
        grams = []
        for word in _WHITE_SPACES.sub(" ", text).split():
            w = f" {word} "
            for n in range(self.min_n, self.max_n + 1):
                grams += [w[i : i + n] for i in range(max(1, len(w) - n + 1))]
                if len(w) <= n:  # a short word is counted once, at its shortest n
                    break
        return grams

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(stacked column indexes, L2-normalised TF-IDF values) of the text's known terms."""
        counts = Counter(j for j in map(self.vocabulary.get, self.terms(text)) if j is not None)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        if self.sublinear:
            tf = np.log(tf) + 1.0
        values = tf * self.idf[idx]
        norm = math.sqrt(float(values @ values))
        return idx + self.offset, values / norm if norm > 0 else values


class TfidfScorer:
    """Sigmoid scores of the TF-IDF reference, one column per tag of `self.tags` (a tag it could not
    fit, with no train positives, scores 0)."""

    def __init__(self, directory: str | Path):
        from safetensors.numpy import load_file

        directory = Path(directory)
        config = json.loads((directory / TFIDF_CONFIG).read_text(encoding="utf-8"))
        if config.get("format") != 1:
            raise TfidfFormatError(f"{directory / TFIDF_CONFIG}: format {config.get('format')!r}, this reads 1")
        tensors = load_file(str(directory / TFIDF_WEIGHTS))
        self.tags: list[str] = list(config["tags"])
        self.keep = np.array(config["keep"], dtype=bool)
        self.vectorizers: list[_Vectorizer] = []
        offset = 0
        for name in ("word", "char"):
            spec = config["vectorizers"][name]
            vec = _Vectorizer(spec["params"], spec["vocabulary"], tensors[f"{name}_idf"], offset)
            self.vectorizers.append(vec)
            offset += len(vec.vocabulary)
        coef = tensors["coef"]
        if coef.shape != (int(self.keep.sum()), offset):
            raise TfidfFormatError(
                f"{directory / TFIDF_WEIGHTS}: coef has shape {coef.shape}, expected ({int(self.keep.sum())}, {offset})"
            )
        # features x tags, so the rows a text's terms select are contiguous; half precision, which halves
        # the memory each served instance holds (~50 MB for flipkart's 77,549 features x 329 tags) and
        # moves a score by under 1e-3
        self.coef_by_term = np.ascontiguousarray(coef.T, dtype=np.float16)
        self.intercept = tensors["intercept"].astype(np.float32)

    def scores(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.tags)), dtype=np.float32)
        if not texts:
            return out
        logits = np.empty((len(texts), len(self.intercept)), dtype=np.float32)
        for i, text in enumerate(texts):
            text = text[:MAX_TEXT_CHARS]
            logits[i] = self.intercept
            for vec in self.vectorizers:
                idx, values = vec.row(text)
                if len(idx):
                    # a broadcast sum, not a BLAS call: for a few dozen rows it is ~8x faster, and it
                    # never starts BLAS threads that compete with the model's
                    logits[i] += (values.astype(np.float32)[:, None] * self.coef_by_term[idx]).sum(0)
        out[:, self.keep] = 1.0 / (1.0 + np.exp(-logits))
        return out


def read_blend_config(directory: str | Path) -> dict | None:
    """The directory's `blend.json`, checked (format 1, a numeric weight; `tfidf_dir` defaults to the
    directory itself), or None when the directory does not blend."""
    path = Path(directory) / BLEND_FILE
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TfidfFormatError(f"{path}: not JSON ({e})") from None
    if not isinstance(config, dict) or config.get("format") != 1 or not isinstance(config.get("weight"), (int, float)):
        raise TfidfFormatError(f"{path}: format 1 with a numeric weight expected")
    if not 0.0 <= config["weight"] <= 1.0:
        raise TfidfFormatError(f"{path}: a blend weight is in [0, 1], not {config['weight']}")
    config.setdefault("tfidf_dir", ".")
    return config


class Blend:
    """Per tag, `weight * transformer + (1 - weight) * tfidf` for the tags the TF-IDF scorer scores,
    the transformer alone for the others; `tags` are the transformer's columns."""

    def __init__(self, weight: float, tfidf: TfidfScorer, tags: list[str]):
        if not 0.0 <= weight <= 1.0:
            raise TfidfFormatError(f"a blend weight is in [0, 1], not {weight}")
        self.weight = weight
        self.tfidf = tfidf
        column = {tag: j for j, tag in enumerate(tfidf.tags) if tfidf.keep[j]}
        self.scored = np.array([t in column for t in tags], dtype=bool)
        self.source = np.array([column.get(t, 0) for t in tags], dtype=np.int64)  # placeholder 0: weight 1
        self.weights = tag_weights(self.scored, weight)

    @classmethod
    def of(cls, directory: str | Path, tags: list[str]) -> Blend | None:
        """The blend a model or version directory declares in `blend.json`, or None without one."""
        config = read_blend_config(directory)
        if config is None:
            return None
        return cls(float(config["weight"]), TfidfScorer(Path(directory) / config["tfidf_dir"]), tags)

    def tfidf_scores(self, texts: list[str]) -> np.ndarray:
        """The TF-IDF scores in the transformer's columns (0 where it scores nothing)."""
        return self.tfidf.scores(texts)[:, self.source] * self.scored

    def __call__(self, texts: list[str], transformer: np.ndarray) -> np.ndarray:
        return blend_scores(transformer, self.tfidf_scores(texts), self.weights)


def tag_weights(scored: np.ndarray, weight: float) -> np.ndarray:
    """Each tag's weight of the transformer: `weight` where the TF-IDF scores the tag, else 1."""
    return np.where(scored, weight, 1.0).astype(np.float32)


def blend_scores(transformer: np.ndarray, tfidf: np.ndarray, weights: np.ndarray | float) -> np.ndarray:
    """Per tag, `weights * transformer + (1 - weights) * tfidf` (both already in the same columns)."""
    return (weights * transformer + (1.0 - np.asarray(weights)) * tfidf).astype(np.float32)
