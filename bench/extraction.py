"""Attribute extraction, measured: the joint model (tags + token head, one encoder pass) against the
classification-only model trained the same way, exact-span F1 per key on test, and open vocabulary:
the rarest values of each extracted key are held out of training altogether (their items removed from
train and validation), and we count how many of their test occurrences the extractor still finds,
while the classifier cannot predict a tag it never had.

    python bench/extraction.py --data ../shared/data --dataset myntra --out runs/extraction [--epochs 2]

Writes bench/results/extraction.json and extraction.png.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

# bench/methods.py, beside this script: the configuration chosen by bench/full_runs.py, JSONL helpers
from methods import FLAGS as CONFIG_C
from methods import read_jsonl, write_jsonl

from tagstream.trainer.data import load_dataset
from tagstream.trainer.evaluate import evaluate_model_dir
from tagstream.trainer.extraction import as_spans, gold_spans
from tagstream.trainer.predict import LocalModel
from tagstream.trainer.spans import extractable_keys, split_tag

FLAGS = [*CONFIG_C, "--no-references"]


def rare_values(rows: list[dict], keys: list[str], below: int) -> set[str]:
    """`key:value` tags of the extracted keys with fewer than `below` train items."""
    counts = Counter(t for r in rows for t in r["tags"] if (kv := split_tag(t)) and kv[0] in keys)
    return {t for t, c in counts.items() if c < below}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--dataset", default="myntra")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--results", type=Path, default=Path("bench/results"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rare-below", type=int, default=100, help="values with fewer train items are held out")
    ap.add_argument("--threads", default="1", help="torch threads per run (the two runs go side by side)")
    args = ap.parse_args()

    ds = args.dataset
    tr, va, te = (args.data / f"{ds}.{s}.jsonl" for s in ("train", "val", "test"))
    train_rows, val_rows = read_jsonl(tr), read_jsonl(va)
    train = load_dataset(tr)
    keys = extractable_keys(train.texts, train.tag_lists)
    held = rare_values(train_rows, keys, args.rare_below)
    print(f"extractable keys: {keys}; held out: {sorted(held)}", flush=True)
    work = args.out / ds
    kept_train = write_jsonl(work / "train.jsonl", [r for r in train_rows if not held & set(r["tags"])])
    kept_val = write_jsonl(work / "val.jsonl", [r for r in val_rows if not held & set(r["tags"])])

    runs = {"joint": ["--extract", ",".join(keys)], "classification_only": []}
    procs = {}
    t0 = time.time()
    for name, extra in runs.items():
        out = work / name
        cmd = [sys.executable, "-m", "tagstream.cli", "train", "--train", str(kept_train), "--val", str(kept_val)]
        cmd += ["--out", str(out), "--epochs", str(args.epochs), "--threads", args.threads, *FLAGS, *extra]
        print("$", " ".join(cmd), flush=True)
        procs[name] = subprocess.Popen(cmd, stdout=open(work / f"{name}.log", "w"), stderr=subprocess.STDOUT)  # noqa: SIM115
    for name, p in procs.items():
        if p.wait() != 0:
            raise SystemExit(f"training {name} failed: see {work / name}.log")
    print(f"trained in {time.time() - t0:.0f} s", flush=True)

    test = load_dataset(te)
    result: dict = {
        "dataset": ds,
        "epochs": args.epochs,
        "keys": keys,
        "held_out_values": sorted(held),
        "rare_below": args.rare_below,
        "train_items": {"all": len(train_rows), "kept": len(read_jsonl(kept_train))},
        "models": {},
    }
    for name in runs:
        d = work / name
        metrics = json.loads((d / "metrics.json").read_text())
        ev = evaluate_model_dir(d, test, references=False)
        result["models"][name] = {
            "train_seconds": round(metrics["train_seconds"], 1),
            "best_epoch": metrics["best_epoch"],
            "test": {k: ev[k] for k in ("micro_f1", "macro_f1", "samples_f1", "micro_precision", "micro_recall")},
            "test_extraction": ev.get("extraction"),
        }
    joint, cls = result["models"]["joint"]["test"], result["models"]["classification_only"]["test"]
    result["joint_minus_classification_only"] = {m: joint[m] - cls[m] for m in ("micro_f1", "macro_f1")}

    # open vocabulary: test items whose value of a key was held out of training
    tagger = LocalModel(work / "joint")
    gold = gold_spans(test.texts, test.tag_lists, set(keys))
    found = as_spans(tagger.extract(test.texts))
    per_value: dict[str, dict[str, int]] = {}
    examples = []
    for text, tags, g, f in zip(test.texts, test.tag_lists, gold, found, strict=True):
        for tag in held & set(tags):
            key, value = split_tag(tag)  # type: ignore[misc]
            spans = [s for s in g if s.key == key and text[s.start : s.end].lower() == value.lower()]
            if not spans:
                continue  # the value is not written in this text: nothing to extract
            row = per_value.setdefault(tag, {"written_in_test": 0, "exact": 0, "overlapping": 0})
            for s in spans:
                row["written_in_test"] += 1
                exact = s in f
                overlap = any(p.key == key and p.start < s.end and s.start < p.end for p in f)
                row["exact"] += exact
                row["overlapping"] += overlap
                if len(examples) < 12:
                    got = [text[p.start : p.end] for p in f if p.key == key]
                    examples.append({"text": text, "held_out": value, "extracted": got, "exact": exact})
    total = sum(v["written_in_test"] for v in per_value.values())
    vocab = set(tagger.vocab.tags)
    result["open_vocabulary"] = {
        "test_occurrences_written": total,
        "extractor_exact_recall": sum(v["exact"] for v in per_value.values()) / max(total, 1),
        "extractor_overlapping_recall": sum(v["overlapping"] for v in per_value.values()) / max(total, 1),
        "classifier_recall": 0.0 if not held & vocab else None,  # the tags are not in its vocabulary
        "per_value": per_value,
        "examples": examples,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / "extraction.json"
    path.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "models"}, indent=1)[:3000])
    print(f"wrote {path}")
    plot(result, args.results / "extraction.png")


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ex = result["models"]["joint"]["test_extraction"]
    keys = [k for k in ex if k != "micro"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for i, m in enumerate(("precision", "recall", "f1")):
        a.bar([j + i * 0.27 for j in range(len(keys))], [ex[k][m] for k in keys], width=0.27, label=m)
    a.set_xticks([j + 0.27 for j in range(len(keys))], keys)
    a.set_ylim(0, 1)
    a.set_title(f"{result['dataset']}: exact-span extraction (test)")
    a.legend(fontsize=8)
    ov = result["open_vocabulary"]
    b.bar(
        ["extractor\n(exact)", "extractor\n(overlap)", "classifier"],
        [ov["extractor_exact_recall"], ov["extractor_overlapping_recall"], ov["classifier_recall"] or 0.0],
    )
    b.set_ylim(0, 1)
    b.set_title(f"values never seen in training ({ov['test_occurrences_written']} test spans): recall")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
