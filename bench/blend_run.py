"""The served TF-IDF blend, side by side with its parts, on trained model directories.

For each run (a model directory from `tagstream train` with its references), on the same split:
the fine-tuned model alone, the same run's TF-IDF reference, and the blend `w * model + (1 - w) *
TF-IDF` with w, thresholds and the tag-tree decoding chosen on validation only (the trainer's own
`fit_blend`), scored once on test; "served" is the blend where the run serves it, else the
fine-tuned model. It also times, in-process with one thread, what the blend adds to
serving: the numpy TF-IDF scores against the exported transformer's (`VersionScorer`), per item.

    python -m bench.blend_run --data ../shared/data --out bench/results/blend_run.json \\
        flipkart=runs/flipkart myntra=runs/myntra          # writes blend_run.png next to the JSON
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.quality import KEYS, error_cut
from tagstream.trainer.blend import fit_blend, transformer_thresholds
from tagstream.trainer.data import load_dataset
from tagstream.trainer.evaluate import REFERENCES_DIR, evaluate_model_dir, score_metrics
from tagstream.trainer.export import export_model
from tagstream.trainer.pipeline import fit_hierarchy
from tagstream.trainer.predict import LocalModel
from tagstream.trainer.triton_backend.model import VersionScorer
from tagstream.trainer.triton_backend.tfidf_blend import Blend, TfidfScorer


def _per_item_ms(score, texts: list[str], batch: int = 32, rounds: int = 2) -> float:
    score(texts[:batch])  # warm
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for s in range(0, len(texts), batch):
            score(texts[s : s + batch])
        best = min(best, time.perf_counter() - t0)
    return 1000 * best / len(texts)


def served_cost(model_dir: Path, tfidf: TfidfScorer, texts: list[str]) -> dict:
    """Per-item milliseconds of the exported transformer and of the TF-IDF part, one thread."""
    with tempfile.TemporaryDirectory() as repo:
        _, version = export_model(model_dir, repo, blend=False)  # the transformer alone
        scorer = VersionScorer(version, threads=1)
        transformer_ms = _per_item_ms(scorer.scores, texts)
    tfidf_ms = _per_item_ms(tfidf.scores, texts)
    return {
        "transformer_ms_per_item": transformer_ms,
        "tfidf_ms_per_item": tfidf_ms,
        "blend_over_transformer": (transformer_ms + tfidf_ms) / transformer_ms,
    }


def run_one(name: str, model_dir: Path, data: Path) -> dict:
    info = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
    train = load_dataset(data / f"{name}.train.jsonl", max_items=info["options"].get("max_items"))
    val, test = load_dataset(data / f"{name}.val.jsonl"), load_dataset(data / f"{name}.test.jsonl")
    local = LocalModel(model_dir)
    tags, setting = local.vocab.tags, info["options"].get("hierarchy", "auto")
    min_support, seed = info["options"]["threshold_min_support"], info["options"]["seed"]
    y_val, y_test = local.vocab.encode(val.tag_lists), local.vocab.encode(test.tag_lists)
    train_lists = [list(t) for t in train.tag_lists]
    t_val, t_test = local.transformer_scores(val.texts), local.transformer_scores(test.texts)
    t_thr = transformer_thresholds(model_dir) or local.thresholds
    t_tree, _ = fit_hierarchy(train_lists, tags, y_val, t_val, t_thr, setting)

    tfidf = TfidfScorer(model_dir / REFERENCES_DIR)
    t0 = time.perf_counter()
    fitted = fit_blend(tfidf, tags, val.texts, y_val, t_val, min_support=min_support, seed=seed)
    choice, b_thr = fitted.choice, fitted.thresholds
    b_tree, _ = fit_hierarchy(train_lists, tags, y_val, fitted.val_scores, b_thr, setting)
    choose_seconds = time.perf_counter() - t0
    b_test = Blend(choice.weight, tfidf, tags)(test.texts, t_test)

    refs = evaluate_model_dir(model_dir, test)["references"]
    rows = {
        "fine-tuned": score_metrics(y_test, t_test, t_thr, tags, t_tree)[0],
        "blend": score_metrics(y_test, b_test, b_thr, tags, b_tree)[0],
        "tfidf": refs["tfidf"],
        "head_only": refs["head_only"],
    }
    rows["served"] = rows["blend"] if choice.served else rows["fine-tuned"]  # what `tagstream train` serves
    ref = rows["tfidf"]
    return {
        "model_dir": str(model_dir),
        "n_train": info["n_train"],
        "n_tags": len(tags),
        "epochs": info["options"]["epochs"],
        "best_epoch": info["best_epoch"],
        "train_seconds": info["train_seconds"],
        "reference_train_seconds": info.get("reference_train_seconds", {}),
        "threads": info["options"].get("threads"),
        "hierarchy": {"fine-tuned": t_tree.mode, "blend": b_tree.mode},
        "blend": choice.model_dump(),
        "choose_seconds": choose_seconds,
        "test": {k: {m: v[m] for m in KEYS} for k, v in rows.items()},
        "error_cut_vs_tfidf": {
            k: {m: error_cut(rows[k][m], ref[m]) for m in ("micro_f1", "macro_f1")}
            for k in ("fine-tuned", "blend", "served")
        },
        "served_cost": served_cost(model_dir, tfidf, test.texts[:512]),
    }


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["runs"]
    methods = ("fine-tuned", "tfidf", "blend")
    colors = {"fine-tuned": "tab:blue", "tfidf": "tab:gray", "blend": "tab:green"}
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=110)
    for ax, metric in zip(axes, ("micro_f1", "macro_f1"), strict=True):
        for i, r in enumerate(runs.values()):
            for j, m in enumerate(methods):
                v = r["test"][m][metric]
                x = i * (len(methods) + 1) + j
                unserved = m == "blend" and not r["blend"]["served"]
                ax.bar(x, v, color=colors[m], label=m if i == 0 else None, hatch="//" if unserved else None)
                ax.text(x, v + 0.003, f"{v:.3f}", ha="center", fontsize=7)
        ax.set_xticks([i * (len(methods) + 1) + 1 for i in range(len(runs))], list(runs))
        low = min(r["test"][m][metric] for r in runs.values() for m in methods)
        ax.set_ylim(low - 0.05, 1.0)
        ax.set_title(f"test {metric.replace('_', '-')} (same run)")
    axes[1].legend(fontsize=7, loc="upper left")
    fig.suptitle(
        "Blend w * fine-tuned + (1 - w) * TF-IDF, w chosen on validation (hatched: not served, too little gain there)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="NAME=MODEL_DIR (NAME.{train,val,test}.jsonl under --data)")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--where", default="", help="where the runs trained (machine, threads), recorded as given")
    args = ap.parse_args()
    result: dict = {"where": args.where, "runs": {}}
    for spec in args.runs:
        name, _, model_dir = spec.partition("=")
        result["runs"][name] = r = run_one(name, Path(model_dir), args.data)
        print(f"{name}: w={r['blend']['weight']} served={r['blend']['served']}")
        for method, m in r["test"].items():
            print(f"  {method:>10}: micro-F1 {m['micro_f1']:.4f}  macro-F1 {m['macro_f1']:.4f}")
        print(f"  error cut vs TF-IDF: {json.dumps(r['error_cut_vs_tfidf'])}")
        print(f"  served cost: {json.dumps(r['served_cost'])}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    plot(result, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
