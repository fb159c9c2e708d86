"""The label and threshold files that travel with every model (artefact dir and Triton version dir).

`labels.json`   {"format": 1, "tags": [..], "support": {tag: train count}, "min_tag_count": int,
                 "dropped": {tag: train count}}
`thresholds.json` {"format": 1, "global": float, "per_tag": {tag: float}}

The Triton python backend reads these two files with plain `json` (it imports nothing of ours);
everything else goes through these models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tagstream.core.errors import ArtifactError
from tagstream.core.hierarchy import TagHierarchy

LABELS_FILE = "labels.json"
THRESHOLDS_FILE = "thresholds.json"


class TagVocabulary(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: int = 1
    tags: list[str]
    support: dict[str, int] = Field(default_factory=dict)
    min_tag_count: int = 1
    dropped: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique(self) -> TagVocabulary:
        if len(set(self.tags)) != len(self.tags):
            raise ValueError("tag names must be unique")
        return self

    def __len__(self) -> int:
        return len(self.tags)

    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tags)}

    def encode(self, tag_lists: list[list[str]]) -> np.ndarray:
        """Multi-hot matrix (n_items, n_tags); tags outside the vocabulary are ignored."""
        idx = self.index()
        y = np.zeros((len(tag_lists), len(self.tags)), dtype=np.float32)
        for row, tags in enumerate(tag_lists):
            for t in tags:
                j = idx.get(t)
                if j is not None:
                    y[row, j] = 1.0
        return y

    @classmethod
    def build(cls, tag_lists: list[list[str]], min_count: int) -> TagVocabulary:
        """Tags seen at least `min_count` times, most frequent first (ties by name)."""
        counts: dict[str, int] = {}
        for tags in tag_lists:
            for t in set(tags):
                counts[t] = counts.get(t, 0) + 1
        kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        dropped = {t: c for t, c in sorted(counts.items()) if c < min_count}
        return cls(tags=kept, support={t: counts[t] for t in kept}, min_tag_count=min_count, dropped=dropped)

    def save(self, directory: Path) -> None:
        (directory / LABELS_FILE).write_text(self.model_dump_json(indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> TagVocabulary:
        return cls.model_validate_json(_read(directory / LABELS_FILE))


class Thresholds(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: int = 1
    global_: float = Field(alias="global", ge=0.0, le=1.0)
    per_tag: dict[str, float] = Field(default_factory=dict)

    def vector(self, tags: list[str]) -> np.ndarray:
        return np.array([self.per_tag.get(t, self.global_) for t in tags], dtype=np.float32)

    def save(self, directory: Path) -> None:
        (directory / THRESHOLDS_FILE).write_text(self.model_dump_json(indent=1, by_alias=True), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> Thresholds:
        return cls.model_validate_json(_read(directory / THRESHOLDS_FILE))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArtifactError(f"{path} is missing: is {path.parent} a tagstream model directory?") from None


def decode_tags(
    scores: np.ndarray, tags: list[str], thresholds: np.ndarray, hierarchy: TagHierarchy | None = None
) -> list[list[tuple[str, float]]]:
    """Per row, the (tag, score) pairs at or above the tag's threshold, highest score first; with a
    hierarchy, made consistent with the tag tree (its mode: prune or complete)."""
    scores = np.asarray(scores, dtype=np.float32)
    predicted = scores >= thresholds
    if hierarchy is not None:
        predicted = hierarchy.apply(predicted, scores, tags)
    out: list[list[tuple[str, float]]] = []
    for row, hit in zip(scores, predicted, strict=True):
        pairs = sorted(((tags[j], float(row[j])) for j in np.nonzero(hit)[0]), key=lambda p: (-p[1], p[0]))
        out.append(pairs)
    return out
