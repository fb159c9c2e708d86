"""`tagstream add-tag`: a new tag from a few examples, without retraining the model.

The model's head is linear on the encoder's pooled embedding, so a new tag is one more row of it: a
logistic regression on the embeddings of the k examples (positives) and of items that do not have the
tag (negatives, from a catalogue file such as the train split). Its threshold is the F1-best one on
cross-validated scores of those items. Every other tag keeps its weights, scores and threshold
exactly; the result is a complete model directory (and, with a repository, the next model version).
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from tagstream.core.artifact import TagVocabulary, Thresholds
from tagstream.core.errors import DataError
from tagstream.trainer.data import load_dataset
from tagstream.trainer.model import CONFIG_FILE, HEAD_FILE, TaggerModel
from tagstream.trainer.predict import embed_texts
from tagstream.trainer.staging import replacing_directory
from tagstream.trainer.thresholds import GRID


@dataclass
class AddedTag:
    tag: str
    positives: int
    negatives: int
    threshold: float
    cv_f1: float  # F1 of the cross-validated scores at that threshold (on the given items only)


def _f1_best_threshold(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    best_t, best_f = 0.5, -1.0
    for t in GRID:
        pred = p >= t
        tp = float((pred & (y == 1)).sum())
        f = 2 * tp / max(pred.sum() + (y == 1).sum(), 1)
        if f > best_f:
            best_t, best_f = float(t), f
    return best_t, best_f


def add_tag(
    model_dir: Path,
    tag: str,
    examples: Path,
    negatives_from: Path,
    out: Path,
    *,
    max_negatives: int = 2000,
    seed: int,
) -> AddedTag:
    model, tokenizer = TaggerModel.load(model_dir)
    vocab = TagVocabulary.load(model_dir)
    if tag in vocab.tags:
        raise DataError(f"{tag!r} is a tag of this model already")
    pos = load_dataset(examples, require_tags=False)
    if len(pos.items) < 2:
        raise DataError(f"{examples}: a new tag needs at least 2 examples, found {len(pos.items)}")
    pool = [it for it in load_dataset(negatives_from, require_tags=False).items if tag not in it.tags]
    example_texts = set(pos.texts)
    pool = [it for it in pool if it.text not in example_texts]
    random.Random(seed).shuffle(pool)
    neg_texts = [it.text for it in pool[:max_negatives]]
    if len(neg_texts) < 2:
        raise DataError(f"{negatives_from}: needs items without {tag!r} as negatives")
    x = embed_texts(model, tokenizer, pos.texts + neg_texts, max_length=model.config.max_length)
    y = np.array([1] * len(pos.texts) + [0] * len(neg_texts))
    clf = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)
    folds = min(4, len(pos.texts))
    cv = cross_val_predict(
        clf, x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed), method="predict_proba"
    )
    threshold, cv_f1 = _f1_best_threshold(y, cv[:, 1])
    clf.fit(x, y)

    head = load_file(str(model_dir / HEAD_FILE))
    weight = torch.cat([head["weight"], torch.tensor(clf.coef_, dtype=head["weight"].dtype)])
    bias = torch.cat([head["bias"], torch.tensor(clf.intercept_, dtype=head["bias"].dtype)])
    thresholds = Thresholds.load(model_dir)
    new_vocab = vocab.model_copy(update={"tags": [*vocab.tags, tag], "support": {**vocab.support, tag: len(pos.texts)}})
    new_thresholds = thresholds.model_copy(update={"per_tag": {**thresholds.per_tag, tag: threshold}})

    with replacing_directory(out) as tmp:
        shutil.copytree(model_dir, tmp, dirs_exist_ok=True)
        save_file({"weight": weight.contiguous(), "bias": bias.contiguous()}, str(tmp / HEAD_FILE))
        new_vocab.save(tmp)
        new_thresholds.save(tmp)
        cfg_path = tmp / CONFIG_FILE
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        cfg["n_tags"] = len(new_vocab.tags)
        cfg_path.write_text(json.dumps(cfg, indent=1), encoding="utf-8")
    return AddedTag(tag, len(pos.texts), len(neg_texts), threshold, cv_f1)
