"""Soft targets from a teacher's scores: columns matched by tag name, a tag the teacher does not score
keeps its hard label, rows in the train file's order; the loss mixes the two by the weight."""

import numpy as np
import pytest
import torch

from tagstream.core.errors import DataError
from tagstream.trainer.distill import DistilledLoss, teacher_targets


def _npz(path, scores, tags):
    np.savez_compressed(path, scores=np.asarray(scores, dtype=np.float16), tags=np.array(tags))
    return path


def test_columns_follow_tag_names_and_unscored_tags_keep_their_labels(tmp_path):
    teacher = _npz(tmp_path / "t.npz", [[0.9, 0.2], [0.1, 0.7], [0.5, 0.5]], ["b", "a"])
    labels = np.array([[1, 0, 1], [0, 1, 0]], dtype=np.float32)  # student tags a, b, c; two train items
    targets, shared = teacher_targets(teacher, ["x", "y"], ["a", "b", "c"], labels)
    assert shared == 2 and targets.dtype == np.float32
    np.testing.assert_allclose(targets, [[0.2, 0.9, 1.0], [0.7, 0.1, 0.0]], atol=1e-3)


def test_a_teacher_with_fewer_rows_or_no_shared_tag_is_refused(tmp_path):
    labels = np.zeros((3, 1), dtype=np.float32)
    with pytest.raises(DataError, match="scores for 2 items, the train split has 3"):
        teacher_targets(_npz(tmp_path / "short.npz", [[0.1], [0.2]], ["a"]), ["x", "y", "z"], ["a"], labels)
    with pytest.raises(DataError, match="none of the student's tags"):
        teacher_targets(_npz(tmp_path / "other.npz", [[0.1]] * 3, ["zz"]), ["x", "y", "z"], ["a"], labels)
    with pytest.raises(DataError, match="expected a model directory or an .npz"):
        teacher_targets(tmp_path / "nope.json", ["x"], ["a"], labels[:1])


def test_the_loss_mixes_hard_and_soft_by_the_weight():
    logits = torch.tensor([[0.3, -1.2], [2.0, 0.1]])
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    soft = torch.tensor([[0.8, 0.1], [0.3, 0.6]])
    bce = torch.nn.BCEWithLogitsLoss()
    got = DistilledLoss(bce, 0.25)(logits, labels, soft)
    assert torch.isclose(got, 0.75 * bce(logits, labels) + 0.25 * bce(logits, soft))
