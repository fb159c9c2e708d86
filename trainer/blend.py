"""Choosing the served blend of the fine-tuned model with the TF-IDF reference, on validation only.

For each weight w of `WEIGHTS`, the blended validation scores are cut in two halves (seeded): the
thresholds are tuned on one half and scored on the other, and the other way round. The weight with the
best validation score (`trainer.selection`: the mean micro- and macro-F1 as one error product) wins;
it is served only when it beats the transformer alone (w = 1) by `MIN_GAIN`, so a blend that does
not clearly help is not paid for. The final thresholds are then tuned on the whole validation split,
as for any model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from tagstream.core.artifact import Thresholds
from tagstream.core.errors import ArtifactError
from tagstream.trainer.metrics import multilabel_metrics
from tagstream.trainer.selection import MIN_GAIN, validation_score
from tagstream.trainer.thresholds import tune_thresholds
from tagstream.trainer.triton_backend.tfidf_blend import (
    BLEND_FILE,
    Blend,
    TfidfFormatError,
    TfidfScorer,
    blend_scores,
    read_blend_config,
    tag_weights,
)

WEIGHTS = tuple(round(1.0 - 0.1 * i, 1) for i in range(11))  # 1.0 (transformer alone) ... 0.0 (TF-IDF alone)


class WeightScore(BaseModel):
    weight: float
    micro_f1: float
    macro_f1: float


class BlendChoice(BaseModel):
    weight: float  # the best weight on validation
    gain: float  # its validation score over the transformer alone (trainer.selection; cross-validated)
    served: bool  # gain >= MIN_GAIN and weight < 1
    table: list[WeightScore]


def _halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return order[: n // 2], order[n // 2 :]


def cross_validated_f1(
    y: np.ndarray, scores: np.ndarray, tags: list[str], *, min_support: int, seed: int
) -> tuple[float, float]:
    """Mean (micro, macro) F1 over the two halves, each scored with thresholds tuned on the other."""
    micro, macro = [], []
    a, b = _halves(len(y), seed)
    for tune, test in ((a, b), (b, a)):
        thresholds = tune_thresholds(y[tune], scores[tune], tags, min_support=min_support)
        pred = (scores[test] >= thresholds.vector(tags)[None, :]).astype(np.int8)
        m = multilabel_metrics(y[test], pred)
        micro.append(m["micro_f1"])
        macro.append(m["macro_f1"])
    return float(np.mean(micro)), float(np.mean(macro))


def choose_blend(
    y_val: np.ndarray,
    transformer_val: np.ndarray,
    tfidf_val: np.ndarray,
    scored: np.ndarray,
    tags: list[str],
    *,
    min_support: int,
    seed: int,
) -> BlendChoice:
    """The blend weight, from validation alone. `scored` marks the tags the TF-IDF scores (the others
    keep the transformer's score)."""
    if len(y_val) < 4:
        return BlendChoice(weight=1.0, gain=0.0, served=False, table=[])
    table = []
    for w in WEIGHTS:
        blended = blend_scores(transformer_val, tfidf_val, tag_weights(scored, w))
        micro, macro = cross_validated_f1(y_val, blended, tags, min_support=min_support, seed=seed)
        table.append(WeightScore(weight=w, micro_f1=micro, macro_f1=macro))
    alone = validation_score(table[0].micro_f1, table[0].macro_f1)
    best = max(table, key=lambda s: (validation_score(s.micro_f1, s.macro_f1), s.weight))
    gain = validation_score(best.micro_f1, best.macro_f1) - alone
    return BlendChoice(weight=best.weight, gain=gain, served=best.weight < 1.0 and gain >= MIN_GAIN, table=table)


@dataclass(frozen=True)
class FittedBlend:
    """The choice, and the validation scores blended with its weight and their thresholds."""

    choice: BlendChoice
    val_scores: np.ndarray
    thresholds: Thresholds


def fit_blend(
    tfidf: TfidfScorer,
    tags: list[str],
    val_texts: list[str],
    y_val: np.ndarray,
    transformer_val: np.ndarray,
    *,
    min_support: int,
    seed: int,
) -> FittedBlend:
    """The weight chosen on validation; the validation scores blended with it, and thresholds tuned
    on the whole validation split for them."""
    probe = Blend(1.0, tfidf, tags)
    tfidf_val = probe.tfidf_scores(val_texts)
    choice = choose_blend(y_val, transformer_val, tfidf_val, probe.scored, tags, min_support=min_support, seed=seed)
    blended = blend_scores(transformer_val, tfidf_val, tag_weights(probe.scored, choice.weight))
    thresholds = tune_thresholds(y_val, blended, tags, min_support=min_support)
    return FittedBlend(choice, blended, thresholds)


def write_blend(
    directory: Path,
    weight: float,
    tfidf_dir: str,
    *,
    transformer_thresholds: Thresholds | None = None,
    choice: BlendChoice | None = None,
) -> None:
    """`blend.json`: the weight, where the TF-IDF files are (relative to `directory`) and, for
    `tagstream evaluate`, the transformer's own thresholds and the validation table."""
    config: dict = {"format": 1, "weight": weight, "tfidf_dir": tfidf_dir}
    if transformer_thresholds is not None:
        config["transformer_thresholds"] = json.loads(transformer_thresholds.model_dump_json(by_alias=True))
    if choice is not None:
        config["validation"] = choice.model_dump()
    (directory / BLEND_FILE).write_text(json.dumps(config, indent=1), encoding="utf-8")


def load_blend(directory: Path, tags: list[str]) -> Blend | None:
    """The blend a model directory declares, or None; a broken one is an `ArtifactError` (one line)."""
    try:
        return Blend.of(directory, tags)
    except TfidfFormatError as e:
        raise ArtifactError(str(e)) from None


def blend_config(directory: Path) -> dict | None:
    """The directory's checked `blend.json` (`read_blend_config`), or None; a broken one is an
    `ArtifactError` (one line)."""
    try:
        return read_blend_config(directory)
    except TfidfFormatError as e:
        raise ArtifactError(str(e)) from None


def transformer_thresholds(directory: Path) -> Thresholds | None:
    """The transformer's own thresholds that `blend.json` keeps (None without a blend)."""
    config = blend_config(directory)
    saved = config.get("transformer_thresholds") if config else None
    return Thresholds.model_validate(saved) if saved else None
