"""`tagstream explain`: per-tag word attributions for a text (word occlusion, `tagstream.core.explain`),
in the terminal and as an HTML page."""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from tagstream.core.explain import occluded_texts, word_weights, words_of
from tagstream.trainer.predict import LocalModel


@dataclass
class TagExplanation:
    tag: str
    score: float
    weights: list[float]  # per word


@dataclass
class Explanation:
    text: str
    words: list[str]
    tags: list[TagExplanation]


def explain(tagger: LocalModel, text: str) -> Explanation:
    """The tags the model gives `text`, each with the weight of every word."""
    base_text = " ".join(text.split())
    words = words_of(base_text)
    scores = tagger.scores([base_text, *occluded_texts(base_text)])
    base, occluded = scores[0], scores[1:]
    tagged = tagger.tags([base_text])[0]
    index = {t: j for j, t in enumerate(tagger.vocab.tags)}
    tags = [TagExplanation(t, s, [float(x) for x in word_weights(base, occluded, index[t])]) for t, s in tagged]
    return Explanation(base_text, words, tags)


def render_text(e: Explanation, top: int = 5) -> str:
    lines = [e.text]
    for t in e.tags:
        order = [i for i in np.argsort(-np.array(t.weights)) if t.weights[i] > 0][:top]
        shown = ", ".join(f"{e.words[i]} ({t.weights[i]:+.2f})" for i in order) or "(no single word carries it)"
        lines.append(f"  {t.score:.3f}  {t.tag}: {shown}")
    return "\n".join(lines)


def render_html(e: Explanation) -> str:
    """One row per tag; each word's background shows its weight (green: for the tag, red: against)."""
    rows = []
    for t in e.tags:
        peak = max([abs(w) for w in t.weights] + [1e-6])
        cells = []
        for word, w in zip(e.words, t.weights, strict=True):
            a = min(1.0, abs(w) / peak)
            color = f"rgba(46, 160, 67, {a:.2f})" if w > 0 else f"rgba(218, 54, 51, {a:.2f})"
            cells.append(f'<span title="{w:+.3f}" style="background:{color}">{html.escape(word)}</span>')
        rows.append(f"<tr><td><b>{html.escape(t.tag)}</b></td><td>{t.score:.3f}</td><td>{' '.join(cells)}</td></tr>")
    return (
        "<!doctype html><meta charset='utf-8'><title>tagstream explain</title>"
        "<style>body{font-family:sans-serif}td{padding:4px 8px;vertical-align:top}span{padding:1px 2px;"
        "border-radius:3px}</style>"
        f"<p>{html.escape(e.text)}</p><table><tr><th>tag</th><th>score</th><th>words (green: for the tag, red: "
        f"against; hover for the weight)</th></tr>{''.join(rows)}</table>"
    )
