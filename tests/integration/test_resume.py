"""A training run checkpoints each epoch; a stopped run resumes to the model the uninterrupted run
makes, and a resumption with other options or data is refused in one line."""

from __future__ import annotations

import pytest
from safetensors.torch import load_file

from tagstream.core.errors import DataError
from tagstream.trainer import checkpoint
from tagstream.trainer.options import TrainOptions
from tagstream.trainer.pipeline import run_training
from tests.conftest import _sample_rows

pytestmark = [pytest.mark.integration]


def _quiet(*_: object) -> None:
    pass


def test_a_stopped_run_resumes_to_the_uninterrupted_model(tmp_path, monkeypatch):
    train, val, other = tmp_path / "train.jsonl", tmp_path / "val.jsonl", tmp_path / "other.jsonl"
    rows = _sample_rows("train", 160)
    train.write_text("\n".join(rows[:120]) + "\n", encoding="utf-8")
    other.write_text("\n".join(rows[40:]) + "\n", encoding="utf-8")
    val.write_text("\n".join(_sample_rows("val", 60)) + "\n", encoding="utf-8")
    opts = TrainOptions(epochs=3, batch_size=16, seed=5, min_tag_count=2, max_length=32, patience=5, references=False)
    written = []
    monkeypatch.setattr(checkpoint, "save", lambda directory, **kw: written.append(kw["progress"].epoch))
    full = run_training(train, val, tmp_path / "full", opts, progress=False, echo=_quiet)
    monkeypatch.undo()
    assert written == [1, 2, 3]  # one checkpoint per epoch

    real_save = checkpoint.save

    def save_then_stop(directory, **kw):  # the run is stopped right after epoch 2's checkpoint
        real_save(directory, **kw)
        if kw["progress"].epoch == 2:
            raise KeyboardInterrupt

    out = tmp_path / "resumed"
    monkeypatch.setattr(checkpoint, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_training(train, val, out, opts, progress=False, echo=_quiet)
    monkeypatch.undo()
    saved = checkpoint.checkpoint_dir(out)
    assert not out.exists() and (saved / checkpoint.CHECKPOINT_FILE).is_file()

    resume = opts.model_copy(update={"resume": str(saved)})
    with pytest.raises(DataError, match="made with --lr 8e-05, not 0.001"):
        run_training(train, val, out, resume.model_copy(update={"lr": 1e-3}), progress=False, echo=_quiet)
    with pytest.raises(DataError, match="other train or validation data"):
        run_training(other, val, out, resume, progress=False, echo=_quiet)
    with pytest.raises(DataError, match="no checkpoint.pt there"):
        run_training(train, val, out, opts.model_copy(update={"resume": str(tmp_path)}), progress=False, echo=_quiet)

    # --no-checkpoint may differ on resumption (it does not change the result), and writes none
    written = []
    monkeypatch.setattr(checkpoint, "save", lambda directory, **kw: written.append(kw["progress"].epoch))
    no_more = resume.model_copy(update={"checkpoint": False})
    resumed = run_training(train, val, out, no_more, progress=False, echo=_quiet)
    monkeypatch.undo()
    assert written == []
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    assert resumed["best_epoch"] == full["best_epoch"]
    assert [h["val_micro_f1"] for h in resumed["history"]] == [h["val_micro_f1"] for h in full["history"]]
    a, b = load_file(str(tmp_path / "full" / "head.safetensors")), load_file(str(out / "head.safetensors"))
    assert all((a[k] == b[k]).all() for k in a)  # bit for bit: the same weights as without the stop
    assert not saved.exists()  # a finished run leaves no checkpoint
