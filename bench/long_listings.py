"""Long listings: `--max-length auto` on a catalogue with long texts, every budget scored on test.

Runs `tagstream train --max-length auto` (the trainer's own choice, on validation only) and keeps each
budget's fine-tuned model (`run_training(keep_trials=...)`), then scores every budget's model once on
the test split, side by side with the chosen model as served (its blend, if any) and the run's
TF-IDF reference. What each budget costs in the stream: `bench/stream_bench.py --budgets`.

    python -m bench.reviews_catalogue --out data/reviews
    python -m bench.long_listings --data data/reviews --name reviews --work runs/long \\
        [--max-items 2000] [--epochs 3] [--threads 2]     # writes bench/results/long_listings.json|png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.quality import KEYS, error_cut
from tagstream.trainer.data import load_dataset
from tagstream.trainer.evaluate import evaluate_model_dir, score_metrics
from tagstream.trainer.options import TrainOptions
from tagstream.trainer.pipeline import run_training
from tagstream.trainer.predict import LocalModel

RESULTS = Path(__file__).resolve().parent / "results"


def run(data: Path, name: str, work: Path, opts: TrainOptions) -> dict:
    model_dir, trials_dir = work / "auto", work / "trials"
    info = run_training(
        data / f"{name}.train.jsonl",
        data / f"{name}.val.jsonl",
        model_dir,
        opts,
        progress=False,
        keep_trials=trials_dir,
    )
    test = load_dataset(data / f"{name}.test.jsonl")
    budgets = []
    for trial in info["max_length_choice"]["trials"]:
        row = dict(trial)
        directory = trials_dir / f"max-length-{trial['max_length']}"
        if directory.is_dir():
            local = LocalModel(directory)
            scores = local.transformer_scores(test.texts)
            m = score_metrics(local.vocab.encode(test.tag_lists), scores, local.thresholds, local.vocab.tags)[0]
            row["test"] = {k: m[k] for k in KEYS}
        budgets.append(row)
    served = evaluate_model_dir(model_dir, test)
    tfidf = served["references"]["tfidf"]
    chosen = {
        "max_length": info["max_length_choice"]["max_length"],
        "blend": info["validation"].get("blend"),
        "test": {k: served[k] for k in KEYS},
        "error_cut_vs_tfidf": {m: error_cut(served[m], tfidf[m]) for m in ("micro_f1", "macro_f1")},
    }
    return {
        "catalogue": name,
        "n_train": info["n_train"],
        "n_val": info["n_val"],
        "n_test": len(test.items),
        "n_tags": info["n_tags"],
        "options": info["options"],
        "budgets": budgets,
        "chosen (as served)": chosen,
        "test_references": {k: {m: v[m] for m in KEYS} for k, v in served["references"].items()},
    }


def table(results: Path = RESULTS) -> str:
    """The budgets side by side, with what each costs served (`long_listings_stream.json`: the chosen
    model is point b; every other budget is b_len<N>, the same weights reading that many tokens)."""
    result = json.loads((results / "long_listings.json").read_text(encoding="utf-8"))
    eps = json.loads((results / "long_listings_stream.json").read_text(encoding="utf-8"))["events_per_s"]
    chosen = result["chosen (as served)"]["max_length"]
    lines = [
        "| max length | train texts longer | validation micro / macro-F1 (two-fold) | test micro / macro-F1 "
        "(fine-tuned alone) | training time (2 threads) | served events/s (b) |",
        "|---|---|---|---|---|---|",
    ]
    for b in result["budgets"]:
        n = b["max_length"]
        served = f"{eps['b' if n == chosen else f'b_len{n}']:,.0f}"
        mark = " (chosen)" if n == chosen else ""
        if "test" not in b:
            lines.append(f"| {n} | {b['longer_share']:.1%} | not tried | | | {served} |")
            continue
        lines.append(
            f"| {n}{mark} | {b['longer_share']:.1%} | {b['micro_f1']:.4f} / {b['macro_f1']:.4f} | "
            f"{b['test']['micro_f1']:.4f} / {b['test']['macro_f1']:.4f} | {b['train_seconds'] / 60:.1f} min | "
            f"{served} |"
        )
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [b for b in result["budgets"] if "test" in b]
    labels = [str(b["max_length"]) for b in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=110)
    for off, metric, color in ((-0.2, "micro_f1", "tab:blue"), (0.2, "macro_f1", "tab:orange")):
        xs = [i + off for i in range(len(rows))]
        vals = [b["test"][metric] for b in rows]
        ax1.bar(xs, vals, width=0.4, color=color, label=f"test {metric.replace('_', '-')}")
        for x, v in zip(xs, vals, strict=True):
            ax1.text(x, v + 0.003, f"{v:.3f}", ha="center", fontsize=7)
        ref = result["test_references"]["tfidf"][metric]
        ax1.axhline(ref, color=color, linestyle=":", linewidth=1, label=f"TF-IDF {metric.replace('_', '-')}")
    ax1.set_xticks(range(len(rows)), labels)
    ax1.set_xlabel("max length (tokens)")
    low = min(min(b["test"]["macro_f1"] for b in rows), result["test_references"]["tfidf"]["macro_f1"])
    ax1.set_ylim(max(0.0, low - 0.1), 1.0)
    ax1.legend(fontsize=7, loc="lower right")
    ax1.set_title(f"fine-tuned model per budget (chosen: {result['chosen (as served)']['max_length']})")
    ax2.bar(labels, [b["train_seconds"] / 60 for b in rows], color="tab:gray")
    ax2.set_xlabel("max length (tokens)")
    ax2.set_ylabel("training minutes")
    ax2.set_title("training time")
    fig.suptitle(f"{result['catalogue']}: --max-length auto, chosen on validation", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="folder with NAME.{train,val,test}.jsonl")
    ap.add_argument("--name", default="reviews")
    ap.add_argument("--work", type=Path, required=True, help="where the models are written")
    ap.add_argument("--max-items", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=RESULTS / "long_listings.json")
    args = ap.parse_args()
    opts = TrainOptions(max_length="auto", max_items=args.max_items, epochs=args.epochs, threads=args.threads)
    result = run(args.data, args.name, args.work, opts)
    for b in result["budgets"]:
        test = b.get("test")
        print(
            f"max length {b['max_length']}: {b['longer_share']:.1%} of train texts longer; "
            + (f"test micro-F1 {test['micro_f1']:.4f} macro-F1 {test['macro_f1']:.4f}" if test else "not tried")
        )
    print(json.dumps(result["chosen (as served)"], indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    plot(result, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
