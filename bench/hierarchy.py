"""Hierarchy-consistent tags, measured: for each trained model, learn the tag tree from the train split,
pick the decoding on validation (as `tagstream train` does), and report test micro/macro-F1 and the
share of items whose predicted tags break the tree, for each decoding.

    python bench/hierarchy.py --runs runs/full --data ../shared/data [--datasets flipkart myntra]

Writes bench/results/hierarchy.json (and saves hierarchy.json into each model directory).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tagstream.trainer.data import load_dataset
from tagstream.trainer.evaluate import hierarchy_report
from tagstream.trainer.pipeline import fit_hierarchy
from tagstream.trainer.predict import LocalModel

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=Path, default=Path("runs/full"), help="holds <dataset>-c model directories")
    ap.add_argument("--config", default="c")
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--datasets", nargs="+", default=["flipkart", "myntra"])
    args = ap.parse_args()
    out = {}
    for ds in args.datasets:
        model_dir = args.runs / f"{ds}-{args.config}"
        tagger = LocalModel(model_dir)
        tags = tagger.vocab.tags
        train = load_dataset(args.data / f"{ds}.train.jsonl")
        val = load_dataset(args.data / f"{ds}.val.jsonl")
        test = load_dataset(args.data / f"{ds}.test.jsonl")
        y_val, y_test = tagger.vocab.encode(val.tag_lists), tagger.vocab.encode(test.tag_lists)
        hierarchy, on_val = fit_hierarchy(
            train.tag_lists, tags, y_val, tagger.scores(val.texts), tagger.thresholds, "auto"
        )
        hierarchy.save(model_dir)
        on_test = hierarchy_report(y_test, tagger.scores(test.texts), tagger.thresholds, tags, hierarchy)
        out[ds] = {"chosen_on_validation": hierarchy.mode, "validation": on_val, "test": on_test}
        print(ds, json.dumps(out[ds]["test"], indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "hierarchy.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
