"""Tags that form a tree, learned from the training tags, and decoding that respects it.

A tag written as a path (`category:A>B>C`) has the tag one level up (`category:A>B`) as its parent
when that tag is in the vocabulary and the training data agrees: nearly every train item with the
child also has the parent. A *group* is the set of tags that share a parent (or, for tags without a
parent, a namespace: the part before `:`); a group is *exclusive* when no train item has two of its
tags (one category path per item, one gender per item). Which tags these are is data, not code.

Consistent decoding of one item's scores:
1. in an exclusive group, only the highest-scoring tag above its threshold stays;
2. `prune`: a tag whose parent did not stay is dropped (top-down, so a whole branch goes), or
   `complete`: the missing ancestors of a tag that stayed are added with their own scores.
The trainer picks the mode with the better validation micro-F1 and saves it with the model
(`hierarchy.json`); the worker gets it from the served model and decodes the same way.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

HIERARCHY_FILE = "hierarchy.json"
Mode = Literal["none", "prune", "complete"]


def _namespace(tag: str) -> str:
    return tag.split(":", 1)[0] if ":" in tag else ""


class TagHierarchy(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: int = 1
    separator: str = ">"
    parent: dict[str, str] = Field(default_factory=dict)  # child -> parent
    exclusive_groups: list[list[str]] = Field(default_factory=list)  # tags of which at most one is predicted
    mode: Mode = "none"

    @classmethod
    def learn(
        cls,
        tag_lists: Sequence[Sequence[str]],
        vocabulary: Sequence[str],
        *,
        separator: str = ">",
        min_implication: float = 0.98,
    ) -> TagHierarchy:
        vocab = set(vocabulary)
        count: dict[str, int] = defaultdict(int)
        both: dict[tuple[str, str], int] = defaultdict(int)
        candidates = {
            t: t.rsplit(separator, 1)[0] for t in vocab if separator in t and t.rsplit(separator, 1)[0] in vocab
        }
        for tags in tag_lists:
            present = set(tags) & vocab
            for t in present:
                count[t] += 1
                p = candidates.get(t)
                if p is not None and p in present:
                    both[(t, p)] += 1
        parent = {c: p for c, p in candidates.items() if count[c] and both[(c, p)] / count[c] >= min_implication}
        groups: dict[str, list[str]] = defaultdict(list)
        for t in sorted(vocab):
            groups[parent.get(t, "ns:" + _namespace(t))].append(t)
        co: dict[str, int] = defaultdict(int)  # group -> items with two or more of its tags
        for tags in tag_lists:
            seen: dict[str, int] = defaultdict(int)
            for t in set(tags) & vocab:
                seen[parent.get(t, "ns:" + _namespace(t))] += 1
            for g, n in seen.items():
                if n > 1:
                    co[g] += 1
        exclusive = [members for g, members in groups.items() if len(members) > 1 and co[g] == 0]
        return cls(separator=separator, parent=parent, exclusive_groups=sorted(exclusive))

    def with_mode(self, mode: Mode) -> TagHierarchy:
        return self.model_copy(update={"mode": mode})

    def save(self, directory: Path) -> None:
        (directory / HIERARCHY_FILE).write_text(self.model_dump_json(indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> TagHierarchy | None:
        path = Path(directory) / HIERARCHY_FILE
        return cls.model_validate_json(path.read_text(encoding="utf-8")) if path.is_file() else None

    @classmethod
    def from_json(cls, text: str) -> TagHierarchy | None:
        return cls.model_validate(json.loads(text)) if text.strip() else None

    # --- decoding ----------------------------------------------------------------------------
    def ancestors(self, tag: str) -> list[str]:
        out, t = [], tag
        while t in self.parent:
            t = self.parent[t]
            out.append(t)
        return out

    def apply(
        self, predicted: np.ndarray, scores: np.ndarray, tags: Sequence[str], mode: Mode | None = None
    ) -> np.ndarray:
        """Consistent 0/1 predictions (items x tags) from thresholded ones and the scores."""
        mode = self.mode if mode is None else mode
        out = predicted.astype(bool).copy()
        if mode == "none":
            return out
        index = {t: j for j, t in enumerate(tags)}
        edges = sorted(
            ((index[c], index[p], len(self.ancestors(c))) for c, p in self.parent.items() if c in index and p in index),
            key=lambda e: e[2],
        )  # parents before children
        if mode == "complete":  # a tag that stayed brings its ancestors, deepest first
            for c, p, _ in reversed(edges):
                out[:, p] |= out[:, c]
        # in an exclusive group one tag stays: the best by its own score (prune) or by the best score in
        # its branch (complete); groups near the root first
        rank = np.where(out, scores, -np.inf)
        if mode == "complete":
            for c, p, _ in reversed(edges):
                rank[:, p] = np.maximum(rank[:, p], rank[:, c])
        depth = {t: len(self.ancestors(t)) for t in tags}
        for group in sorted(self.exclusive_groups, key=lambda g: min(depth.get(t, 0) for t in g)):
            cols = [index[t] for t in group if t in index]
            if len(cols) < 2:
                continue
            sub = np.where(out[:, cols], rank[:, cols], -np.inf)
            keep = np.zeros_like(out[:, cols])
            keep[np.arange(len(out)), sub.argmax(axis=1)] = np.isfinite(sub.max(axis=1))
            out[:, cols] = keep
        for c, p, _ in edges:  # no tag without its parent: a dropped tag takes its branch with it
            out[:, c] &= out[:, p]
        return out

    def inconsistency_rate(self, predicted: np.ndarray, tags: Sequence[str]) -> float:
        """Share of items whose tags break the tree: a tag without its parent, or two tags of an
        exclusive group."""
        index = {t: j for j, t in enumerate(tags)}
        pred = predicted.astype(bool)
        bad = np.zeros(len(pred), dtype=bool)
        for child, par in self.parent.items():
            if child in index and par in index:
                bad |= pred[:, index[child]] & ~pred[:, index[par]]
        for group in self.exclusive_groups:
            cols = [index[t] for t in group if t in index]
            if len(cols) > 1:
                bad |= pred[:, cols].sum(axis=1) > 1
        return float(bad.mean()) if len(bad) else 0.0
