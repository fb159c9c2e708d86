"""Tokenise once, then batch by length with dynamic padding."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase


def tokenize(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int) -> list[list[int]]:
    enc = tokenizer(list(texts), truncation=True, max_length=max_length, add_special_tokens=True)
    return enc["input_ids"]


def pad(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        mask[i, : len(x)] = 1
    return input_ids, mask


def length_sorted_batches(
    lengths: Sequence[int], batch_size: int, *, shuffle: bool, seed: int = 0, pool: int = 50
) -> list[list[int]]:
    """Index batches of similar length, so that dynamic padding wastes little.

    With `shuffle`, items are shuffled, cut into pools of `pool` batches, sorted by length inside a
    pool, and the batches are shuffled again: random order, little padding. Without, the whole set is
    sorted by length (for inference; callers put results back in order).
    """
    idx = list(range(len(lengths)))
    if not shuffle:
        idx.sort(key=lambda i: lengths[i])
        return [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]
    rng = random.Random(seed)
    rng.shuffle(idx)
    batches: list[list[int]] = []
    step = batch_size * pool
    for s in range(0, len(idx), step):
        chunk = sorted(idx[s : s + step], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def iter_padded(
    ids: Sequence[Sequence[int]], batches: list[list[int]], pad_id: int
) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    for b in batches:
        input_ids, mask = pad([ids[i] for i in b], pad_id)
        yield b, input_ids, mask


def unsort(rows: list[np.ndarray], batches: list[list[int]], n: int) -> np.ndarray:
    """Put per-batch outputs back into the original item order."""
    out = np.zeros((n, rows[0].shape[1]), dtype=np.float32)
    for b, r in zip(batches, rows, strict=True):
        out[b] = r
    return out
