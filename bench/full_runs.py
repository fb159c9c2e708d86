"""Full training runs: every dataset x a few configurations, trained side by side; the configuration
with the best validation score (`trainer.selection`) is chosen per dataset, and only then is it
evaluated on the test split, next to its head-only and TF-IDF reference points.

    python bench/full_runs.py --data ../shared/data --out runs/full [--datasets flipkart myntra]

Writes bench/results/full_runs.json, bench/results/full_runs.png and bench/results/curves/*.png.
Used on a GPU machine for the README table (a CPU works too, slowly: ~30 train items/s on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tagstream.trainer.selection import validation_score

CONFIGS = {
    # name: extra train flags. The first configuration run also trains the reference models (they do
    # not depend on the flags) and the others borrow them.
    "a": ["--lr", "8e-5", "--head-lr", "3e-3"],
    "b": ["--lr", "1.5e-4", "--head-lr", "3e-3", "--pos-weight-cap", "5"],
    "c": ["--lr", "1e-4", "--head-lr", "5e-3", "--pos-weight-cap", "3", "--field-dropout", "0.1"],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--datasets", nargs="+", default=["flipkart", "myntra"])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS))
    ap.add_argument("--epochs", default="8")
    ap.add_argument("--max-items", default=None)
    ap.add_argument("--base-model", default=None)
    ap.add_argument("--threads", default="2")
    ap.add_argument("--results", type=Path, default=Path("bench/results"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "tagstream.cli"]
    procs = {}
    t0 = time.time()
    for ds in args.datasets:
        for cfg in args.configs:
            out = args.out / f"{ds}-{cfg}"
            cmd = (
                cli
                + [
                    "train",
                    "--train",
                    str(args.data / f"{ds}.train.jsonl"),
                    "--val",
                    str(args.data / f"{ds}.val.jsonl"),
                    "--out",
                    str(out),
                    "--epochs",
                    args.epochs,
                    "--patience",
                    "3",
                    "--threads",
                    args.threads,
                ]
                + CONFIGS[cfg]
            )
            if cfg != args.configs[0]:
                cmd.append("--no-references")
            if args.max_items:
                cmd += ["--max-items", args.max_items]
            if args.base_model:
                cmd += ["--base-model", args.base_model]
            log = open(args.out / f"{ds}-{cfg}.log", "w")  # noqa: SIM115 - the child writes it until it exits
            procs[(ds, cfg)] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), out)
    failed = []
    for key, (p, _) in procs.items():
        if p.wait() != 0:
            failed.append(key)
            print(f"FAILED {key}: see {args.out / ('-'.join(key) + '.log')}", flush=True)
    print(f"training done in {time.time() - t0:.0f} s", flush=True)

    summary: dict = {"datasets": {}, "wall_seconds": None}
    for ds in args.datasets:
        cands = []
        for cfg in args.configs:
            if (ds, cfg) in failed:
                continue
            m = json.loads((args.out / f"{ds}-{cfg}" / "metrics.json").read_text())
            v = m["validation"]["model"]
            cands.append((validation_score(v["micro_f1"], v["macro_f1"]), cfg, m))
        cands.sort(key=lambda c: -c[0])
        _, best_cfg, best = cands[0]
        best_dir = args.out / f"{ds}-{best_cfg}"
        ref_src = args.out / f"{ds}-{args.configs[0]}" / "references"
        if best_cfg != args.configs[0] and ref_src.is_dir():
            shutil.copytree(ref_src, best_dir / "references", dirs_exist_ok=True)
        res = subprocess.run(
            cli + ["evaluate", "--model", str(best_dir), "--data", str(args.data / f"{ds}.test.jsonl"), "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        test = json.loads(res.stdout)
        keys = ("micro_f1", "macro_f1", "samples_f1", "micro_precision", "micro_recall", "n_items", "n_tags")
        summary["datasets"][ds] = {
            "chosen_config": best_cfg,
            "config_flags": CONFIGS[best_cfg],
            "validation_by_config": {
                c: {
                    "micro_f1": m["validation"]["model"]["micro_f1"],
                    "macro_f1": m["validation"]["model"]["macro_f1"],
                    "best_epoch": m["best_epoch"],
                    "train_seconds": m["train_seconds"],
                }
                for _, c, m in cands
            },
            "train_seconds": best["train_seconds"],
            "reference_train_seconds": json.loads((args.out / f"{ds}-{args.configs[0]}" / "metrics.json").read_text())[
                "reference_train_seconds"
            ],
            "n_train": best["n_train"],
            "test": {
                "fine_tuned": {k: test[k] for k in keys},
                **{n: {k: r[k] for k in keys} for n, r in test["references"].items()},
            },
            "history": best["history"],
        }
        (args.results / "curves").mkdir(parents=True, exist_ok=True)
        shutil.copy(best_dir / "training_curve.png", args.results / "curves" / f"{ds}.png")
        shutil.copy(best_dir / "README.md", args.results / "curves" / f"{ds}-model-card.md")
        (args.out / f"{ds}.test.json").write_text(json.dumps(test, indent=1))
    summary["wall_seconds"] = time.time() - t0
    summary["device"] = os.environ.get("TAGSTREAM_DEVICE_NOTE", "")
    (args.results / "full_runs.json").write_text(json.dumps(summary, indent=1))
    plot(summary, args.results / "full_runs.png")
    print(json.dumps({ds: d["test"] for ds, d in summary["datasets"].items()}, indent=1))


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dss = list(summary["datasets"])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=110)
    names = ["fine_tuned", "head_only", "tfidf"]
    for ax, metric in zip(axes, ("micro_f1", "macro_f1"), strict=True):
        for i, n in enumerate(names):
            vals = [summary["datasets"][d]["test"].get(n, {}).get(metric, 0) for d in dss]
            ax.bar([x + i * 0.27 for x in range(len(dss))], vals, width=0.27, label=n)
        ax.set_xticks([x + 0.27 for x in range(len(dss))], dss)
        ax.set_title(f"test {metric}")
        ax.set_ylim(0, 1)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
