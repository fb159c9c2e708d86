"""Weak span labels for attribute extraction: where an item's `key:value` tags are written in its text.

A tag `colour:Navy Blue` on an item titled "Turtle Check Men Navy Blue Shirt" marks the characters of
"Navy Blue" as a `colour` span. Values are found case-insensitively, on word boundaries, longest value
first, and spans never overlap. Which keys can be extracted is measured, not assumed: a key is
extractable when its values are found in the text of enough of its items (`coverage`); category paths
(`category:A>B`) are never written as such in a title and so are not extractable by this test.

Spans are character offsets into the model text (`tagstream.core.text.model_text`), the text the
worker sends to the model, so an extracted value can be shown and checked against what the model read.
Span metrics follow seqeval's strict mode: a predicted span counts only if key, start and end all match.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

#: a key is extractable when its value is written in the text of at least this share of its items...
MIN_FOUND_SHARE = 0.3
#: ...and of at least this many items
MIN_FOUND_ITEMS = 20


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int  # exclusive
    key: str


def split_tag(tag: str) -> tuple[str, str] | None:
    """`key:value` as (key, value); None for a tag without a key or a value."""
    key, sep, value = tag.partition(":")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        return None
    return key, value


def values_pattern(values: Iterable[str]) -> re.Pattern[str]:
    """One pattern finding any of `values` in a text: case aside, on word boundaries that also work
    for values starting or ending in a non-word character ("C++"), any run of spaces between words,
    the longest value first where one starts another ("Navy Blue" before "Navy")."""
    ordered = sorted(set(values), key=len, reverse=True)
    words = "|".join(r"\s+".join(re.escape(w) for w in v.split()) for v in ordered)
    return re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE)


@lru_cache(maxsize=65536)
def _pattern(value: str) -> re.Pattern[str]:
    return values_pattern((value,))


def find_spans(text: str, tags: Iterable[str], keys: set[str] | None = None) -> list[Span]:
    """The spans of the tags' values in `text` (only `keys`, when given): longest value first, every
    occurrence, no overlaps. A value that is not written in the text gives no span."""
    wanted = []
    for tag in tags:
        kv = split_tag(tag)
        if kv and (keys is None or kv[0] in keys):
            wanted.append(kv)
    wanted.sort(key=lambda kv: (-len(kv[1]), kv))
    taken = [False] * len(text)
    spans: list[Span] = []
    for key, value in wanted:
        for m in _pattern(value).finditer(text):
            if not any(taken[m.start() : m.end()]):
                spans.append(Span(m.start(), m.end(), key))
                taken[m.start() : m.end()] = [True] * (m.end() - m.start())
    return sorted(spans)


@dataclass(frozen=True)
class KeyCoverage:
    key: str
    items: int  # items with a tag of this key
    found: int  # items where that value is written in the text
    values: int  # distinct values of the key

    @property
    def share(self) -> float:
        return self.found / max(self.items, 1)

    @property
    def extractable(self) -> bool:
        return self.found >= MIN_FOUND_ITEMS and self.share >= MIN_FOUND_SHARE


def coverage(texts: Sequence[str], tag_lists: Sequence[Sequence[str]]) -> list[KeyCoverage]:
    """Per key: how many items carry it and in how many of them its value is written in the text,
    most frequent key first."""
    items: Counter[str] = Counter()
    found: Counter[str] = Counter()
    values: defaultdict[str, set[str]] = defaultdict(set)
    for text, tags in zip(texts, tag_lists, strict=True):
        keys_here = {}
        for tag in tags:
            kv = split_tag(tag)
            if kv:
                keys_here.setdefault(kv[0], []).append(tag)
                values[kv[0]].add(kv[1].lower())
        for key, key_tags in keys_here.items():
            items[key] += 1
            if find_spans(text, key_tags):
                found[key] += 1
    return [KeyCoverage(k, n, found[k], len(values[k])) for k, n in items.most_common()]


def extractable_keys(texts: Sequence[str], tag_lists: Sequence[Sequence[str]]) -> list[str]:
    return [c.key for c in coverage(texts, tag_lists) if c.extractable]


def bio_labels(offsets: Sequence[tuple[int, int]], spans: Sequence[Span]) -> list[str]:
    """BIO labels for tokens given by their character offsets (a fast tokenizer's offset mapping;
    (0, 0) marks special tokens, labelled O). A token belongs to a span when it starts inside it."""
    labels = []
    previous: Span | None = None  # the span of the previous real token
    for start, end in offsets:
        if end <= start:
            labels.append("O")
            continue
        span = next((s for s in spans if s.start <= start < s.end), None)
        if span is None:
            labels.append("O")
        else:
            labels.append(("I-" if span == previous else "B-") + span.key)
        previous = span
    return labels


def spans_from_bio(offsets: Sequence[tuple[int, int]], labels: Sequence[str]) -> list[Span]:
    """Decode BIO labels back into character spans (an I- without its B- starts a span, as in
    seqeval's default mode)."""
    spans: list[Span] = []
    cur: list = []  # [start, end, key]
    for (start, end), label in zip(offsets, labels, strict=True):
        if end <= start:
            continue
        tag, _, key = label.partition("-")
        if tag == "B" or (tag == "I" and (not cur or cur[2] != key)):
            if cur:
                spans.append(Span(*cur))
            cur = [start, end, key]
        elif tag == "I":
            cur[1] = end
        else:
            if cur:
                spans.append(Span(*cur))
            cur = []
    if cur:
        spans.append(Span(*cur))
    return spans


def span_metrics(gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]]) -> dict[str, dict[str, float]]:
    """Exact-match precision, recall and F1 per key and overall ("micro")."""
    tp: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    for g, p in zip(gold, pred, strict=True):
        gs, ps = set(g), set(p)
        for s in gs:
            n_gold[s.key] += 1
        for s in ps:
            n_pred[s.key] += 1
            tp[s.key] += s in gs

    def prf(t: int, np_: int, ng: int) -> dict[str, float]:
        p, r = t / np_ if np_ else 0.0, t / ng if ng else 0.0
        return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "support": ng}

    out = {k: prf(tp[k], n_pred[k], n_gold[k]) for k in sorted(set(n_gold) | set(n_pred))}
    out["micro"] = prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    return out
