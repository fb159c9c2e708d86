"""Evaluate a saved model on a labelled file, next to its two reference points."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from tagstream.core.artifact import Thresholds
from tagstream.core.errors import ArtifactError
from tagstream.core.hierarchy import TagHierarchy
from tagstream.trainer.baselines import HEAD_ONLY_DIR, HeadOnlyBaseline, TfidfBaseline
from tagstream.trainer.blend import transformer_thresholds
from tagstream.trainer.data import Dataset, load_dataset
from tagstream.trainer.extraction import as_spans, gold_spans, keys_of
from tagstream.trainer.label_noise import error_sources, text_conflicts
from tagstream.trainer.metrics import multilabel_metrics, per_tag_report
from tagstream.trainer.predict import LocalModel
from tagstream.trainer.spans import span_metrics
from tagstream.trainer.triton_backend.tfidf_blend import TFIDF_CONFIG

REFERENCES_DIR = "references"


def score_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    thresholds: Thresholds,
    tags: list[str],
    hierarchy: TagHierarchy | None = None,
) -> tuple[dict, np.ndarray]:
    pred = probs >= thresholds.vector(tags)[None, :]
    if hierarchy is not None:
        pred = hierarchy.apply(pred, probs, tags)
    pred = pred.astype(np.int8)
    return multilabel_metrics(y_true, pred), pred


def hierarchy_report(
    y_true: np.ndarray, probs: np.ndarray, thresholds: Thresholds, tags: list[str], hierarchy: TagHierarchy
) -> dict[str, object]:
    """Micro/macro-F1 and the share of items whose tags break the tree, for each decoding."""
    out: dict[str, object] = {
        "mode": hierarchy.mode,
        "parents": len(hierarchy.parent),
        "exclusive_groups": len(hierarchy.exclusive_groups),
    }
    for mode in ("none", "prune", "complete"):
        m, pred = score_metrics(y_true, probs, thresholds, tags, hierarchy.with_mode(mode))
        out[mode] = {
            "micro_f1": m["micro_f1"],
            "macro_f1": m["macro_f1"],
            "inconsistent_items": hierarchy.inconsistency_rate(pred, tags),
        }
    return out


def evaluate_model_dir(model_dir: str | Path, data: Dataset | str | Path, *, references: bool = True) -> dict:
    model_dir = Path(model_dir)
    ds = data if isinstance(data, Dataset) else load_dataset(data)
    tagger = LocalModel(model_dir)
    tags = tagger.vocab.tags
    texts = ds.texts
    y = tagger.vocab.encode(ds.tag_lists)
    known = set(tags)
    n_gold = sum(len(t) for t in ds.tag_lists)
    n_unknown = sum(1 for ts in ds.tag_lists for t in ts if t not in known)

    t0 = time.perf_counter()
    probs = tagger.scores(texts)
    seconds = time.perf_counter() - t0
    metrics, pred = score_metrics(y, probs, tagger.thresholds, tags, tagger.hierarchy)
    metrics["items_per_second"] = len(texts) / max(seconds, 1e-9)
    result: dict = {
        "data": str(ds.path),
        "model": str(model_dir),
        **metrics,
        "bad_rows": len(ds.bad_rows),
        "gold_tag_assignments": n_gold,
        "gold_tag_assignments_outside_vocabulary": n_unknown,
        "per_tag": per_tag_report(y, pred, tags),
        "hierarchy": hierarchy_report(y, probs, tagger.thresholds, tags, tagger.hierarchy)
        if tagger.hierarchy
        else None,
        "references": {},
        "label_noise": {
            "conflicts": text_conflicts(texts, ds.tag_lists).as_dict(),
            "error_sources": [
                asdict(e)
                for e in error_sources(
                    texts,
                    [[t for t in ts if t in known] for ts in ds.tag_lists],  # what the model can be right on
                    [[tags[j] for j in np.flatnonzero(row)] for row in pred],
                    tags,
                )
            ],
        },
    }
    if tagger.extracts:
        keys = set(keys_of(tagger.model.config.extract_labels))
        gold = gold_spans(texts, ds.tag_lists, keys)
        result["extraction"] = span_metrics(gold, as_spans(tagger.extract(texts)))
    transformer_thr = transformer_thresholds(model_dir)
    if references and tagger.blend and transformer_thr:  # the fine-tuned model alone, unblended
        result["references"]["transformer"] = score_metrics(
            y, tagger.transformer_scores(texts), transformer_thr, tags, tagger.hierarchy
        )[0]
        result["blend_weight"] = tagger.blend.weight
    if references:
        ref_dir = model_dir / REFERENCES_DIR
        if (ref_dir / HEAD_ONLY_DIR).is_dir():
            head = HeadOnlyBaseline.load(ref_dir)
            result["references"]["head_only"] = score_metrics(y, head.scores(texts), head.thresholds, tags)[0]
        if (ref_dir / TFIDF_CONFIG).is_file():
            tfidf = TfidfBaseline.load(ref_dir)
            result["references"]["tfidf"] = score_metrics(y, tfidf.scores(texts), tfidf.thresholds, tags)[0]
        if not result["references"]:
            raise ArtifactError(f"{ref_dir} holds no reference models (train without --no-references to make them)")
    return result
