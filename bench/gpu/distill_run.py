"""On a GPU machine (the `device` tool): the served student (MiniLM) trained side by side without and
with a teacher's soft targets (`--teacher`, the scores `teacher_run.py` brought back), on full
splits, each evaluated on the test split; the plain run also trains the same-run TF-IDF and head-only
references. Results only come back.

    python bench/gpu/distill_run.py --packed .gpu/minilm --teacher .gpu/teacher --data .gpu/data \\
        --out "$OUT" --datasets flipkart myntra --epochs 8 --weight 0.5"""

from __future__ import annotations

import json
import time
from pathlib import Path

from teacher_run import KEEP, run_arguments, run_summary, split_path, unpack_encoder

from tagstream.trainer.evaluate import evaluate_model_dir
from tagstream.trainer.options import TrainOptions
from tagstream.trainer.pipeline import run_training


def main() -> None:
    ap = run_arguments(epochs=8)
    ap.add_argument("--teacher", type=Path, required=True, help="folder of <dataset>-train.npz")
    ap.add_argument("--weight", type=float, default=0.5)
    args = ap.parse_args()
    t0 = time.time()
    enc = unpack_encoder(args.packed, Path("/tmp/student-encoder"))
    summary = run_summary(teacher_weight=args.weight)
    args.out.mkdir(parents=True, exist_ok=True)
    for ds in args.datasets:
        paths = {s: split_path(args.data, ds, s) for s in ("train", "val", "test")}
        common = {
            "base_model": str(enc),
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": 1e-4,
            "head_lr": 5e-3,
            "pos_weight_cap": 3,
            "field_dropout": 0.1,
            "precision": "bf16",
            "max_items": args.max_items,
        }
        arms = {
            "student": TrainOptions(**common),
            "distilled student": TrainOptions(
                **common,
                references=False,
                teacher=str(args.teacher / f"{ds}-train.npz"),
                teacher_weight=args.weight,
            ),
        }
        result: dict = {}
        for arm, opts in arms.items():
            model_dir = Path("/tmp/runs") / ds / arm.replace(" ", "-")
            t1 = time.time()
            info = run_training(paths["train"], paths["val"], model_dir, opts, progress=False, echo=print)
            train_s = time.time() - t1
            test = evaluate_model_dir(model_dir, paths["test"], references=opts.references)
            result[arm] = {
                "train_seconds": round(train_s, 1),
                "best_epoch": info["best_epoch"],
                "validation": {k: info["validation"]["model"][k] for k in KEEP},
                "test": {k: test[k] for k in KEEP},
            }
            if opts.references:
                result["test_references"] = {n: {k: r[k] for k in KEEP} for n, r in test["references"].items()}
            print(ds, arm, json.dumps(result[arm]["test"]), flush=True)
        result["options"] = {k: v for k, v in arms["student"].model_dump().items() if k != "base_model"}
        summary["datasets"][ds] = result
        (args.out / "distill_run.json").write_text(json.dumps(summary, indent=1))
    summary["seconds"] = round(time.time() - t0, 1)
    (args.out / "distill_run.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
