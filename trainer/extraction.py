"""Attribute extraction: BIO token labels for training, and spans read out of the token head.

The model learns, token by token, where the values of the extractable keys are written (weak labels
from `tagstream.trainer.spans`); at inference every maximal B/I run of one key is a span, its value
the text it covers and its score the mean probability of its tokens' labels. Because the head labels
positions rather than choosing from a list, it can return values it never saw in training (a new
colour name, a new brand), which the tag classifier cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tagstream.core.errors import ArtifactError
from tagstream.trainer.batching import iter_padded, length_sorted_batches
from tagstream.trainer.spans import Span, bio_labels, find_spans, spans_from_bio

IGNORE = -100  # special tokens and padding: no token loss


def label_set(keys: Sequence[str]) -> tuple[str, ...]:
    return ("O", *(f"{p}-{k}" for k in keys for p in ("B", "I")))


def keys_of(labels: Sequence[str]) -> list[str]:
    """The keys of a BIO label set, in order (the inverse of `label_set`)."""
    return [label[2:] for label in labels if label.startswith("B-")]


@dataclass(frozen=True)
class Extracted:
    key: str
    value: str
    start: int  # character offsets into the text the model read
    end: int
    score: float

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "value": self.value, "start": self.start, "end": self.end, "score": self.score}


def encode(tokenizer, texts: Sequence[str], max_length: int) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """Token ids and each token's character offsets (special tokens: (0, 0))."""
    if not getattr(tokenizer, "is_fast", False):
        raise ArtifactError("attribute extraction needs a fast tokenizer (one that reports character offsets)")
    enc = tokenizer(list(texts), truncation=True, max_length=max_length, return_offsets_mapping=True)
    return enc["input_ids"], [[tuple(o) for o in offs] for offs in enc["offset_mapping"]]


def token_labels(
    offsets: Sequence[Sequence[tuple[int, int]]],
    texts: Sequence[str],
    tag_lists: Sequence[Sequence[str]],
    labels: Sequence[str],
) -> list[list[int]]:
    """Label ids per token: where the item's own `key:value` tags are written (special tokens ignored)."""
    index = {label: i for i, label in enumerate(labels)}
    keys = set(keys_of(labels))
    out = []
    for offs, text, tags in zip(offsets, texts, tag_lists, strict=True):
        names = bio_labels(offs, find_spans(text, tags, keys))
        out.append([IGNORE if e <= s else index[n] for (s, e), n in zip(offs, names, strict=True)])
    return out


def pad_labels(rows: Sequence[Sequence[int]], width: int) -> torch.Tensor:
    out = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def decode(text: str, offsets: Sequence[tuple[int, int]], probs: np.ndarray, labels: Sequence[str]) -> list[Extracted]:
    """Spans from one text's token label probabilities (tokens x labels)."""
    best = probs.argmax(-1)
    names = [labels[j] for j in best]
    out: list[Extracted] = []
    for span in spans_from_bio(offsets, names):
        start, end = whole_words(text, span.start, span.end)
        if out and start < out[-1].end:  # grown into the previous span: one word is one value
            continue
        inside = [i for i, (s, e) in enumerate(offsets) if e > s and start <= s < end]
        score = float(np.mean([probs[i, best[i]] for i in inside])) if inside else 0.0
        out.append(Extracted(span.key, text[start:end], start, end, round(score, 4)))
    return out


def whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Grow a span to whole words: a value is never part of a word ("Tea" of "Teal" -> "Teal"),
    whichever word pieces the token head marked."""
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return start, end


@torch.inference_mode()
def extract(model, tokenizer, texts: Sequence[str], *, batch_size: int = 128) -> list[list[Extracted]]:
    """The attributes written in each text, by the model's token head ([] for a model without one)."""
    if model.extract_head is None:
        return [[] for _ in texts]
    model.eval()
    labels = model.config.extract_labels
    ids, offsets = encode(tokenizer, texts, model.config.max_length)
    device = next(model.parameters()).device
    out: list[list[Extracted]] = [[] for _ in texts]
    batches = length_sorted_batches([len(x) for x in ids], batch_size, shuffle=False)
    for b, input_ids, mask in iter_padded(ids, batches, tokenizer.pad_token_id):
        _, tok = model.forward_all(input_ids.to(device), mask.to(device))
        probs = torch.softmax(tok.float(), -1).cpu().numpy()
        for r, i in enumerate(b):
            out[i] = decode(texts[i], offsets[i], probs[r, : len(ids[i])], labels)
    return out


def gold_spans(texts: Sequence[str], tag_lists: Sequence[Sequence[str]], keys: set[str]) -> list[list[Span]]:
    return [find_spans(t, tags, keys) for t, tags in zip(texts, tag_lists, strict=True)]


def as_spans(extracted: Sequence[Sequence[Extracted]]) -> list[list[Span]]:
    return [[Span(e.start, e.end, e.key) for e in row] for row in extracted]
