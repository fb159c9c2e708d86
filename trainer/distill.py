"""Distillation: soft targets from a stronger teacher for the served student.

The teacher is either a model directory from `tagstream train` (it scores the train items here) or
an `.npz` of its scores on them (`scores` [items, tags] and `tags`, rows in the train file's order,
as `bench/gpu/teacher_run.py` brings them back from a GPU). The student's tag loss becomes
`(1 - w) * BCE(labels) + w * BCE(soft targets)`; a student tag the teacher does not score keeps its
hard label as its soft target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from tagstream.core.errors import DataError


def teacher_targets(teacher: Path, texts: list[str], tags: list[str], labels: np.ndarray) -> tuple[np.ndarray, int]:
    """The soft targets [len(texts), len(tags)] (float32), and how many of `tags` the teacher scores."""
    if teacher.is_dir():
        from tagstream.trainer.predict import LocalModel

        model = LocalModel(teacher)
        scores, teacher_tags = model.scores(texts), list(model.vocab.tags)
    elif teacher.suffix == ".npz" and teacher.is_file():
        with np.load(teacher) as z:
            scores, teacher_tags = z["scores"].astype(np.float32), [str(t) for t in z["tags"]]
        if len(scores) < len(texts):
            raise DataError(
                f"--teacher {teacher}: scores for {len(scores)} items, the train split has {len(texts)} "
                "(the rows follow the train file's order; --max-items keeps the first N)"
            )
        scores = scores[: len(texts)]
    else:
        raise DataError(f"--teacher {teacher}: expected a model directory or an .npz of scores")
    column = {t: i for i, t in enumerate(teacher_tags)}
    targets = labels.astype(np.float32).copy()
    shared = [(j, column[t]) for j, t in enumerate(tags) if t in column]
    if not shared:
        raise DataError(f"--teacher {teacher}: it scores none of the student's tags")
    cols, teacher_cols = zip(*shared, strict=True)
    targets[:, list(cols)] = scores[:, list(teacher_cols)]
    return targets, len(shared)


class DistilledLoss(nn.Module):
    """`(1 - weight) * hard(logits, labels) + weight * BCE(logits, soft targets)`."""

    def __init__(self, hard: nn.Module, weight: float):
        super().__init__()
        self.hard = hard
        self.weight = weight
        self.soft = nn.BCEWithLogitsLoss()

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
        return (1 - self.weight) * self.hard(logits, labels) + self.weight * self.soft(logits, soft)
