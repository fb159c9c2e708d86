"""How much of a catalogue's tagging the text alone can decide: label conflicts and error sources.

Two measures, per tag key (`colour` for `colour:Navy Blue`; tags without a key count under `-`):

- **conflicts**: items whose text (case and spacing aside) is also another item's text, and whose
  tags of a key differ from the most common ones for that text. A model that reads only the text
  gives every copy of a text the same tags, so at least these items are wrong for any such model:
  a floor under its error, measured on the data before any training.
- **error sources**: for each item a model tags wrongly on a key, whether the text writes the gold
  value, writes only another value of the key (the text contradicts the label: "Lee Men Checks Red
  Shirt" tagged `colour:Blue`), or writes no value of the key at all (a perfume's colour).

Both look only at tags and texts, whatever the catalogue: nothing here knows any particular key.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from tagstream.trainer.spans import find_spans, split_tag, values_pattern

NO_KEY = "-"  # the key of tags written without one ("sale", "organic")


def tag_key(tag: str) -> str:
    kv = split_tag(tag)
    return kv[0] if kv else NO_KEY


def _by_key(tags: Sequence[str]) -> dict[str, frozenset[str]]:
    out: defaultdict[str, set[str]] = defaultdict(set)
    for tag in tags:
        out[tag_key(tag)].add(tag)
    return {k: frozenset(v) for k, v in out.items()}


@dataclass(frozen=True)
class KeyConflicts:
    key: str
    items: int  # items that share their text with another item and carry a tag of this key
    off_majority: int  # of those, items tagged on this key unlike the most common tags of their text


@dataclass(frozen=True)
class Conflicts:
    n_items: int
    shared_text: int  # items whose text is also another item's text
    off_majority: int  # items whose whole tag set differs from the most common one of their text
    per_key: list[KeyConflicts]  # keys with any item off the majority, most such items first
    #: micro-F1 with every item right except where copies of a text disagree, there each tag given to
    #: all copies when most of them carry it (else to none): about the best a text-only model can do
    micro_f1_ceiling: float

    @property
    def share(self) -> float:
        return self.off_majority / max(self.n_items, 1)

    def as_dict(self) -> dict:
        return {**asdict(self), "share": self.share}


def conflicts_line(conflicts: dict) -> str:
    """One line for a `Conflicts.as_dict()`."""
    keys = ", ".join(f"{c['key']} {c['off_majority']}" for c in conflicts["per_key"][:6])
    return (
        f"label conflicts: {conflicts['off_majority']} of {conflicts['n_items']} items "
        f"({100 * conflicts['share']:.1f} %) share their text with items tagged otherwise and are off "
        f"that text's most common tags{f' ({keys})' if keys else ''}: a model that reads only the text "
        f"reaches at most micro-F1 ~{conflicts['micro_f1_ceiling']:.4f} here"
    )


def _normalised(text: str) -> str:
    return " ".join(text.casefold().split())


def shared_texts(texts: Sequence[str], others: Sequence[str]) -> int:
    """How many of `texts` are also among `others` (case and spacing aside): validation items that
    are train items score what the model was taught, not what it learnt."""
    seen = {_normalised(t) for t in others}
    return sum(1 for t in texts if _normalised(t) in seen)


def _off_majority(groups: Sequence[Sequence[frozenset[str]]]) -> int:
    """Items in the groups whose value differs from their group's most common value."""
    return sum(len(g) - Counter(g).most_common(1)[0][1] for g in groups)


def text_conflicts(texts: Sequence[str], tag_lists: Sequence[Sequence[str]]) -> Conflicts:
    """Items sharing a text with other items but tagged unlike the majority of them (see the module)."""
    groups: defaultdict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(texts):
        groups[_normalised(text)].append(i)
    shared = [g for g in groups.values() if len(g) > 1]
    whole = _off_majority([[frozenset(tag_lists[i]) for i in g] for g in shared])
    keyed = [[_by_key(tag_lists[i]) for i in g] for g in shared]
    keys = sorted({k for g in keyed for tags in g for k in tags})
    per_key = []
    for key in keys:
        key_groups = [[tags.get(key, frozenset()) for tags in g] for g in keyed]
        carrying = sum(1 for g in keyed for tags in g if key in tags)
        off = _off_majority(key_groups)
        if off:
            per_key.append(KeyConflicts(key, carrying, off))
    per_key.sort(key=lambda c: (-c.off_majority, c.key))
    return Conflicts(len(texts), sum(len(g) for g in shared), whole, per_key, _ceiling(tag_lists, shared))


def _ceiling(tag_lists: Sequence[Sequence[str]], shared: Sequence[Sequence[int]]) -> float:
    """`Conflicts.micro_f1_ceiling`."""
    tp = sum(len(set(tags)) for tags in tag_lists)
    fp = fn = 0
    for group in shared:
        for k in Counter(t for i in group for t in set(tag_lists[i])).values():
            if 2 * k > len(group):  # given to every copy: the copies without it are false positives
                fp += len(group) - k
            else:  # given to none: its k carriers are false negatives
                tp -= k
                fn += k
    return 2 * tp / (2 * tp + fp + fn) if tp else 1.0


@dataclass(frozen=True)
class KeyErrors:
    key: str
    wrong: int  # items whose predicted tags of this key are not exactly the gold ones
    text_names_gold: int  # ... and the text writes a gold value
    text_names_other: int  # ... and the text writes only other values of the key (it contradicts the label)
    text_names_none: int  # ... and the text writes no value of the key


def _value(tag: str) -> str:
    kv = split_tag(tag)
    return _normalised(kv[1]) if kv else ""


def error_sources(
    texts: Sequence[str],
    gold: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[str]],
    vocabulary: Sequence[str],
) -> list[KeyErrors]:
    """Per key, the items tagged wrongly on it, by what their text writes (see the module); keys
    with errors only, most errors first. A key whose values are never written as such (category
    paths like `category:A>B`) has all its errors under `text_names_none`."""
    key_values: defaultdict[str, list[str]] = defaultdict(list)
    for tag in vocabulary:
        kv = split_tag(tag)
        if kv:
            key_values[kv[0]].append(kv[1])
    patterns = {key: values_pattern(values) for key, values in key_values.items()}  # one scan per text and key
    counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for text, g, p in zip(texts, gold, predicted, strict=True):
        g_keys, p_keys = _by_key(g), _by_key(p)
        for key in g_keys.keys() | p_keys.keys():
            g_tags = g_keys.get(key, frozenset())
            if g_tags == p_keys.get(key, frozenset()):
                continue
            c = counts[key]
            c["wrong"] += 1
            if find_spans(text, g_tags):  # never for tags without a key: they have no value to find
                c["gold"] += 1
            elif _writes_another(patterns.get(key), text, {_value(t) for t in g_tags}):
                c["other"] += 1
            else:
                c["none"] += 1
    out = [KeyErrors(k, c["wrong"], c["gold"], c["other"], c["none"]) for k, c in counts.items()]
    return sorted(out, key=lambda e: (-e.wrong, e.key))


def _writes_another(pattern: re.Pattern[str] | None, text: str, gold_values: set[str]) -> bool:
    if pattern is None:
        return False
    return any(_normalised(m.group()) not in gold_values for m in pattern.finditer(text))


def error_table(errors: Sequence[dict], limit: int = 12) -> str:
    """A table of `error_sources` rows (as dicts)."""
    lines = [
        "items wrong on a key, by what their text writes of that key",
        f"{'key':>16} {'wrong':>6} {'gold value':>11} {'another value':>14} {'no value':>9}",
    ]
    for e in errors[:limit]:
        lines.append(
            f"{e['key'][:16]:>16} {e['wrong']:6d} {e['text_names_gold']:11d} "
            f"{e['text_names_other']:14d} {e['text_names_none']:9d}"
        )
    if len(errors) > limit:
        lines.append(f"  ... and {len(errors) - limit} more keys")
    return "\n".join(lines)
