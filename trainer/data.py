"""Read catalogue rows (JSON lines) and report bad ones with file and line number."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from tagstream.core.errors import DataError
from tagstream.core.text import attributes_as_strings, clean_text, invalid_unicode, model_text


class CatalogueItem(BaseModel):
    """One product row. Unknown fields are ignored; attribute values are kept as strings."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str | None = None
    title: str
    description: str = ""
    brand: str = ""
    attributes: dict[str, str] = {}
    tags: list[str] = []

    @field_validator("title")
    @classmethod
    def _title_not_empty(cls, v: str) -> str:
        if not clean_text(v):
            raise ValueError("title is empty")
        return v

    @field_validator("title", "description", "brand")
    @classmethod
    def _valid_unicode(cls, v: str) -> str:
        if invalid_unicode(v):
            raise ValueError("holds a lone surrogate (not valid Unicode)")
        return v

    @field_validator("description", "brand", mode="before")
    @classmethod
    def _none_is_empty(cls, v: object) -> object:
        return "" if v is None else v

    @field_validator("attributes", mode="before")
    @classmethod
    def _stringify_attributes(cls, v: object) -> object:
        return attributes_as_strings(v)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_are_strings(cls, v: object) -> object:
        if not isinstance(v, list) or not all(isinstance(t, str) for t in v):
            raise ValueError("tags must be a list of strings")
        return [t.strip() for t in v if t.strip()]

    @property
    def text(self) -> str:
        return model_text(self.title, self.brand, self.description, self.attributes)

    def augmented_text(self, rng: random.Random, p: float) -> str:
        """The model text with brand, description and attributes each left out with probability p
        (the title always stays), so that the model also learns to tag sparse listings."""
        return model_text(
            self.title,
            "" if rng.random() < p else self.brand,
            "" if rng.random() < p else self.description,
            {} if rng.random() < p else self.attributes,
        )


@dataclass(frozen=True)
class BadRow:
    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class Dataset:
    path: Path
    items: list[CatalogueItem]
    bad_rows: list[BadRow]

    @property
    def texts(self) -> list[str]:
        return [it.text for it in self.items]

    @property
    def tag_lists(self) -> list[list[str]]:
        return [list(it.tags) for it in self.items]


def _reason(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "row"
    msg = first["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}"


def load_dataset(
    path: str | Path,
    *,
    strict: bool = False,
    require_tags: bool = True,
    max_items: int | None = None,
) -> Dataset:
    """Load a JSON-lines catalogue.

    Bad rows (invalid JSON, missing or empty title, tags not a list of strings) are collected with
    their line number; with `strict=True` the first one raises `DataError`. A missing or empty file,
    or (with `require_tags`) a file with no tagged rows, raises `DataError`.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    items: list[CatalogueItem] = []
    bad: list[BadRow] = []
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
                if not isinstance(obj, dict):
                    raise ValueError("row is not a JSON object")
                item = CatalogueItem.model_validate(obj)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                row = BadRow(path, lineno, f"invalid JSON ({e.__class__.__name__}: {e})")
            except ValidationError as e:
                row = BadRow(path, lineno, _reason(e))
            except ValueError as e:
                row = BadRow(path, lineno, str(e))
            else:
                items.append(item)
                if max_items is not None and len(items) >= max_items:
                    break
                continue
            if strict:
                raise DataError(f"bad row at {row} (run without --strict to skip bad rows)")
            bad.append(row)
    if not items and not bad:
        raise DataError(f"{path}: file is empty")
    if not items:
        raise DataError(f"{path}: no usable rows ({len(bad)} bad; first: {bad[0]})")
    if require_tags and not any(it.tags for it in items):
        raise DataError(f"{path}: no row has any tags")
    return Dataset(path, items, bad)


def few_shot_subset(items: list[CatalogueItem], shots: int, seed: int) -> list[CatalogueItem]:
    """At most about `shots` items per tag: items are taken in a seeded random order and kept while
    one of their tags still has fewer than `shots` examples."""
    if shots < 1:
        raise DataError("--few-shot must be at least 1")
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    counts: dict[str, int] = {}
    kept: list[int] = []
    for i in order:
        tags = items[i].tags
        if any(counts.get(t, 0) < shots for t in tags):
            kept.append(i)
            for t in tags:
                counts[t] = counts.get(t, 0) + 1
    return [items[i] for i in sorted(kept)]
