"""Per-epoch checkpoints of a training run, and resuming a stopped run from the last one.

After each epoch the trainer writes `OUT.checkpoint/checkpoint.pt` (next to the `--out` directory,
replaced atomically): the weights, the optimizer and schedule, the best epoch's weights, the history,
the random state and what the run was made from. `tagstream train ... --resume OUT.checkpoint`
continues after the last finished epoch, with the same options and data (anything else is refused,
naming what differs); a finished run removes its checkpoint. A resumed run ends where the
uninterrupted one would have: the same weights (a test compares them).

The file is loaded with `torch.load(weights_only=True)`: tensors and plain containers only, no
pickled code.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tagstream.core.errors import DataError
from tagstream.trainer.options import TrainOptions

CHECKPOINT_FILE = "checkpoint.pt"
FORMAT = 1
#: options that may differ between a run and its resumption (they do not change the result)
_FREE_OPTIONS = frozenset({"resume", "threads", "checkpoint"})


def checkpoint_dir(out: Path) -> Path:
    """Where a run writing `out` keeps its checkpoint."""
    return out.with_name(out.name + ".checkpoint")


def data_fingerprint(y_train: np.ndarray, y_val: np.ndarray, tags: list[str], n_texts: int) -> str:
    """What the run trains on, as far as resuming must match: labels, tags and item counts."""
    h = hashlib.sha256()
    for part in (y_train.astype(np.float32).tobytes(), y_val.astype(np.float32).tobytes()):
        h.update(part)
    h.update("\n".join(tags).encode("utf-8"))
    h.update(str(n_texts).encode())
    return h.hexdigest()


def _options(opts: TrainOptions) -> dict[str, Any]:
    return {k: v for k, v in opts.model_dump(mode="json").items() if k not in _FREE_OPTIONS}


@dataclass
class Progress:
    """What a run has done so far, besides its weights."""

    epoch: int  # the last finished epoch
    history: list[dict[str, Any]]
    best_f1: float
    best_epoch: int
    stale: int
    stopped: bool  # early stopping ended the run after `epoch`
    seconds: float  # training time so far


def save(
    directory: Path,
    *,
    opts: TrainOptions,
    fingerprint: str,
    progress: Progress,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    best_state: dict[str, torch.Tensor] | None,
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    state = {
        "format": FORMAT,
        "options": _options(opts),
        "fingerprint": fingerprint,
        "progress": asdict(progress),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        # the best epoch's weights, unless they are the current ones
        "best_state": None if progress.best_epoch == progress.epoch else best_state,
        "rng": torch.get_rng_state(),
    }
    tmp = directory / f".{CHECKPOINT_FILE}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, directory / CHECKPOINT_FILE)


def load(directory: Path, opts: TrainOptions, fingerprint: str) -> dict[str, Any]:
    """The checkpoint in `directory`, checked against this run's options and data."""
    path = directory / CHECKPOINT_FILE
    if not path.is_file():
        raise DataError(
            f"--resume {directory}: no {CHECKPOINT_FILE} there (a run writes OUT.checkpoint/ after each epoch)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is one line
        raise DataError(f"--resume {path}: cannot be read ({type(e).__name__}: {e})") from None
    if state.get("format") != FORMAT:
        raise DataError(f"--resume {path}: format {state.get('format')!r}, this trainer reads {FORMAT}")
    saved, now = state["options"], _options(opts)
    for key in sorted(set(saved) | set(now)):
        if saved.get(key) != now.get(key):
            flag = "--" + key.replace("_", "-")
            raise DataError(
                f"--resume {directory}: it was made with {flag} {saved.get(key)!r}, not {now.get(key)!r}; "
                "resume with the same options"
            )
    if state["fingerprint"] != fingerprint:
        raise DataError(f"--resume {directory}: it was made from other train or validation data")
    return state
