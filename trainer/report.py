"""The training curve plot and the model card."""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def plot_training_curve(history: list[dict], best_epoch: int, path: Path, title: str = "") -> None:
    """The curve as a PNG; none (and a log line) where matplotlib is not installed (a bare GPU host)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("no training curve plot: matplotlib is not installed")
        return
    epochs = [h["epoch"] for h in history]
    fig, ax1 = plt.subplots(figsize=(7, 4), dpi=110)
    ax1.plot(epochs, [h["train_loss"] for h in history], "o-", label="train loss", color="tab:blue")
    ax1.plot(epochs, [h["val_loss"] for h in history], "s--", label="val loss (BCE)", color="tab:cyan")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax2 = ax1.twinx()
    ax2.plot(epochs, [h["val_micro_f1"] for h in history], "^-", label="val micro-F1", color="tab:red")
    ax2.set_ylabel("val micro-F1")
    ax2.axvline(best_epoch, color="grey", ls=":", lw=1, label=f"best epoch ({best_epoch})")
    lines = ax1.get_lines() + ax2.get_lines()
    ax1.legend(lines, [ln.get_label() for ln in lines], loc="center right", fontsize=8)
    ax1.set_xticks(epochs)
    ax1.set_title(title or "training curve", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _row(name: str, m: dict) -> str:
    cells = [m[k] for k in ("micro_f1", "macro_f1", "samples_f1", "micro_precision", "micro_recall")]
    return f"| {name} | " + " | ".join(f"{v:.4f}" for v in cells) + " |"


def _budget_lines(choice: dict | None) -> list[str]:
    """How `--max-length auto` chose the budget (trainer.text_budget)."""
    if not choice:
        return []
    lines = ["", f"`--max-length auto` chose {choice['max_length']} tokens on validation:", ""]
    lines += [
        "| max length | train texts longer | val micro-F1 | val macro-F1 | training time |",
        "|---|---|---|---|---|",
    ]
    for t in choice["trials"]:
        if t["micro_f1"] is None:
            lines.append(f"| {t['max_length']} | {t['longer_share']:.1%} | not tried | | |")
        else:
            lines.append(
                f"| {t['max_length']} | {t['longer_share']:.1%} | {t['micro_f1']:.4f} | {t['macro_f1']:.4f} | "
                f"{t['train_seconds']:.0f} s |"
            )
    return lines


_REFERENCE_NAMES = {
    "transformer": "fine-tuned alone (unblended)",
    "head_only": "head-only (frozen encoder)",
    "tfidf": "TF-IDF + one-vs-rest LR",
}


def _served_name(val: dict) -> str:
    blend = val.get("blend")
    if blend and blend["served"]:
        return f"served: fine-tuned + TF-IDF blend (w = {blend['weight']:.1f})"
    return "served: fine-tuned"


def _serving_lines(val: dict) -> list[str]:
    """What the served scores are: the blend (when it paid on validation) and the tag-tree decoding."""
    lines = []
    blend = val.get("blend")
    if blend and blend["served"]:
        lines.append(
            f"- Served scores are `{blend['weight']:.1f} * fine-tuned + {1 - blend['weight']:.1f} * TF-IDF` per tag "
            "(`blend.json`), the weight"
        )
        lines.append(
            "  chosen on validation; the TF-IDF reference (`references/`) is scored inside the served model, and"
        )
        lines.append("  the thresholds are tuned for the blended scores.")
    elif blend:
        lines.append(
            "- The fine-tuned model's own scores: a blend with the TF-IDF reference was weighed on validation and"
        )
        lines.append("  did not gain enough to be served.")
    tree = val.get("hierarchy")
    if tree and tree.get("mode") not in (None, "none"):
        lines.append(f"- Tags are decoded along the tag tree (`hierarchy.json`, mode `{tree['mode']}`).")
    return lines


def _conflict_lines(conflicts: dict | None) -> list[str]:
    """The train split's label conflicts (trainer.label_noise), where there are any."""
    if not conflicts or not conflicts["off_majority"]:
        return []
    keys = ", ".join(f"`{c['key']}` {c['off_majority']}" for c in conflicts["per_key"][:6])
    return [
        f"- {conflicts['off_majority']} train items ({100 * conflicts['share']:.1f} %) share their text with items "
        f"tagged otherwise (by key: {keys}): the text cannot tell them apart, so no model reading it gets",
        "  them all right. `tagstream evaluate` shows the same for any labelled file.",
    ]


def write_model_card(directory: Path, info: dict) -> None:
    opts = info["options"]
    val = info["validation"]
    lines = [
        f"# tagstream product tagger: {info['name']}",
        "",
        "A multi-label product tagger: a pretrained transformer encoder, mean pooling and a linear head,",
        "fine-tuned with BCE-with-logits. Scores are independent per tag; a tag is emitted when its score",
        "reaches its threshold (`thresholds.json`, tuned on validation).",
        "",
        "## Data",
        f"- train: `{info['train_path']}` ({info['n_train']} items used, {info['train_bad_rows']} bad rows skipped)",
        f"- validation: `{info['val_path']}` ({info['n_val']} items, {info['val_bad_rows']} bad rows skipped)",
        f"- tags: {info['n_tags']} with at least {info['min_tag_count']} train items; "
        f"{info['n_dropped_tags']} rarer tags were dropped (listed in `labels.json` under `dropped`)",
        "- input text: title, brand, attributes (sorted `key: value`), description, joined with ` | `",
        f"  and truncated to {opts['max_length']} tokens (`tagstream.core.text.model_text`).",
        *_budget_lines(info.get("max_length_choice")),
        "",
        "## Hyperparameters",
        "",
        "| option | value |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in opts.items()],
        "",
        f"Best epoch: {info['best_epoch']} of {len(info['history'])} run; training took {info['train_seconds']:.0f} s, "
        f"{info.get('trainable_params', 0):,} of {info.get('total_params', 0):,} parameters trained, "
        f"peak memory {info.get('peak_memory_mb', 0):.0f} MB.",
        "",
        "## Validation results",
        "",
        "| model | micro-F1 | macro-F1 | samples-F1 | micro-P | micro-R |",
        "|---|---|---|---|---|---|",
        _row(_served_name(val), val["model"]),
        *[_row(name, val["references"][k]) for k, name in _REFERENCE_NAMES.items() if k in val.get("references", {})],
        "",
        *_serving_lines(val),
        "",
        "Thresholds were tuned on this same validation split, so these numbers are optimistic; use",
        "`tagstream evaluate --model DIR --data TEST.jsonl` for held-out results.",
        "",
        "![training curve](training_curve.png)",
        "",
        "## Known limits",
        "- Tags rarer than the minimum support are never predicted; per-tag thresholds fall back to the",
        "  global threshold for tags with fewer than 3 validation positives.",
        "- The model only knows the tag vocabulary of its training data; new tags need retraining.",
        "- Scores are not calibrated probabilities across tags; compare a score with its own tag's threshold.",
        "- Titles in other languages, or text far longer than the max length, were not part of training.",
        *_conflict_lines(info.get("label_conflicts")),
        "",
    ]
    (directory / "README.md").write_text("\n".join(lines), encoding="utf-8")


def write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=1, default=str), encoding="utf-8")
