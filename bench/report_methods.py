"""Markdown tables of bench/results/{lora,few_shot,refresh,extraction}.json, for docs/training.md.

python bench/report_methods.py [--results bench/results]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def saved_params(model_dir: Path) -> int:
    """Parameters of a saved model (encoder and head), for a run that did not record them."""
    from safetensors import safe_open

    n = 0
    for f in (model_dir / "encoder" / "model.safetensors", model_dir / "head.safetensors"):
        with safe_open(str(f), "np") as st:
            n += sum(math.prod(st.get_slice(k).get_shape()) for k in st.keys())  # noqa: SIM118 - not a dict
    return n


def lora(r: dict) -> list[str]:
    out = [
        "| dataset | run | trainable parameters | s / epoch | best epoch (of run) | test micro-F1 | test macro-F1 | served by Triton: max score diff |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for ds, runs in r["runs"].items():
        for name, m in runs.items():
            t = m["test"]
            params = f"{m['trainable_params'] or saved_params(Path(m['model'])):,}"
            served = m.get("served_by_triton", {}).get("max_abs_score_diff")
            out.append(
                f"| {ds} | {name.replace('_', ' ')} | {params} | {m['seconds_per_epoch']:.0f} | "
                f"{m['best_epoch']} ({m['epochs_run']}) | {t['micro_f1']:.4f} | {t['macro_f1']:.4f} | "
                f"{'' if served is None else f'{served:.1e}'} |"
            )
    out.append("")
    for ds, p in r.get("probe_2000_items_1_epoch", {}).items():
        f, l8 = p["full_fine_tuning"], p["lora_r8"]
        out.append(
            f"Side by side on {ds} (2,000 items, one epoch each, same moment): full fine-tuning "
            f"{f['train_seconds']:.0f} s and {f['peak_memory_mb']:.0f} MB peak resident memory, LoRA r8 "
            f"{l8['train_seconds']:.0f} s ({l8['train_seconds'] / f['train_seconds']:.2f}x) and "
            f"{l8['peak_memory_mb']:.0f} MB ({l8['peak_memory_mb'] / f['peak_memory_mb']:.2f}x)."
        )
    return out


def few_shot(r: dict) -> list[str]:
    ks = list(r["shots"])
    out = [
        "| held-out tag | test items | "
        + " | ".join(f"F1, k={k} (mean of {len(r['shots'][k]['draws'])} draws)" for k in ks)
        + " | F1, trained on all its items |",
        "|---|---|" + "---|" * len(ks) + "---|",
    ]
    ref = r.get("fully_trained_reference", {}).get("held_out_f1", {})
    first = r["shots"][ks[0]]["draws"][0]["held_out_f1"]
    for tag in r["held_out_tags"]:
        cells = [f"{r['shots'][k]['held_out_f1_mean'][tag]:.3f}" for k in ks]
        out.append(
            f"| `{tag}` | {first[tag]['support']} | " + " | ".join(cells) + f" | {ref.get(tag, float('nan')):.3f} |"
        )
    mean_ref = sum(ref.values()) / len(ref) if ref else float("nan")
    out.append(
        "| **mean** | | "
        + " | ".join(
            f"**{r['shots'][k]['held_out_macro_f1_mean']:.3f}** (± {r['shots'][k]['held_out_macro_f1_std_over_draws']:.3f})"
            for k in ks
        )
        + f" | **{mean_ref:.3f}** |"
    )
    return out


def refresh(r: dict) -> list[str]:
    out = [
        "| model | train items | tags | train time | test micro-F1: first half | second half | all | forgetting (first half) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in r["models"].items():
        forget = m.get("forgetting_first_half_micro_f1")
        out.append(
            f"| {name.replace('_', ' ')} | {m['n_train']:,} | {m['n_tags']} | {m['train_seconds'] / 60:.1f} min | "
            f"{m['test_first_half']['micro_f1']:.4f} | {m['test_second_half']['micro_f1']:.4f} | {m['test_all']['micro_f1']:.4f} | "
            f"{'' if forget is None else f'{100 * forget:+.2f} points'} |"
        )
    return out


def extraction(r: dict) -> list[str]:
    ex = r["models"]["joint"]["test_extraction"]
    out = ["| key | precision | recall | F1 | spans in test |", "|---|---|---|---|---|"]
    for k, m in ex.items():
        out.append(f"| {k} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | {int(m['support'])} |")
    out += ["", "| model (same data, same epochs) | test micro-F1 | test macro-F1 | train time |", "|---|---|---|---|"]
    for name, m in r["models"].items():
        out.append(
            f"| {name.replace('_', ' ')} | {m['test']['micro_f1']:.4f} | {m['test']['macro_f1']:.4f} | {m['train_seconds'] / 60:.0f} min |"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", type=Path, default=Path("bench/results"))
    args = ap.parse_args()
    for name, fn in (("lora", lora), ("few_shot", few_shot), ("refresh", refresh), ("extraction", extraction)):
        path = args.results / f"{name}.json"
        if path.is_file():
            print(f"<!-- {path} -->")
            print("\n".join(fn(json.loads(path.read_text()))))
            print()


if __name__ == "__main__":
    main()
