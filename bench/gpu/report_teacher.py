"""The teacher run's table and plot: test micro/macro-F1 of the fine-tuned encoder next to the same
run's TF-IDF and head-only references, and the error it cuts from TF-IDF's.

    python bench/gpu/report_teacher.py bench/results/teacher_run.json   # writes the .png next to it"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def error_cut(model: float, reference: float) -> float:
    return (model - reference) / (1 - reference)


def main(path: Path) -> None:
    run = json.loads(path.read_text())
    print("| catalogue | method | test micro-F1 | test macro-F1 | error cut vs TF-IDF micro / macro |")
    print("|---|---|---|---|---|")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=110)
    for ax, metric in zip(axes, ("micro_f1", "macro_f1"), strict=True):
        names, values = [], []
        for ds, r in run["datasets"].items():
            rows = {"fine-tuned mpnet": r["test"], **r["test_references"]}
            for method, m in rows.items():
                names.append(f"{ds}\n{method.replace('fine-tuned ', '')}")
                values.append(m[metric])
        ax.bar(range(len(values)), values, color=["tab:blue", "tab:gray", "tab:orange"] * len(run["datasets"]))
        ax.set_xticks(range(len(values)), names, fontsize=7)
        ax.set_ylim(min(values) - 0.05, 1.0)
        ax.set_title(f"test {metric.replace('_', '-')}")
        for i, v in enumerate(values):
            ax.text(i, v + 0.003, f"{v:.3f}", ha="center", fontsize=7)
    for ds, r in run["datasets"].items():
        tf = r["test_references"]["tfidf"]
        for method, m in {"fine-tuned mpnet": r["test"], **r["test_references"]}.items():
            cut = (
                f"{error_cut(m['micro_f1'], tf['micro_f1']):.1%} / {error_cut(m['macro_f1'], tf['macro_f1']):.1%}"
                if method != "tfidf"
                else ""
            )
            print(f"| {ds} | {method} | {m['micro_f1']:.4f} | {m['macro_f1']:.4f} | {cut} |")
    fig.suptitle(f"all-mpnet-base-v2 fine-tuned on {run['device']} (bf16), same-run references", fontsize=9)
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
