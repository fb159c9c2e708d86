"""On a GPU machine (the `device` tool): fine-tune a packed encoder with tagstream's own trainer on
full splits, evaluate it on the test split next to the same run's TF-IDF and head-only references,
and keep the fine-tuned model's scores on the train, validation and test items (the soft targets a
CPU student can be distilled from). Nothing of the weights comes back: results only.

    python bench/gpu/teacher_run.py --packed .gpu/enc --data .gpu/data --out "$OUT" \\
        --datasets flipkart myntra --epochs 5 --lr 5e-5

`--packed PREFIX` reads PREFIX-1/, PREFIX-2/, ... as `bench/gpu/pack_encoder.py` wrote them. Each
dataset's results are written as soon as it is done (a run cut short keeps what it finished)."""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load, save_file

from tagstream.trainer.data import load_dataset
from tagstream.trainer.evaluate import evaluate_model_dir
from tagstream.trainer.options import TrainOptions
from tagstream.trainer.pipeline import run_training
from tagstream.trainer.predict import LocalModel

KEEP = ("micro_f1", "macro_f1", "samples_f1", "micro_precision", "micro_recall")


def unpack_encoder(prefix: Path, dest: Path) -> Path:
    """Join the chunks, turn int8 rows back into fp32, and write a model directory."""
    meta = json.loads(Path(f"{prefix}-1/pack.json").read_text())
    blob = b"".join(Path(f"{prefix}-{i}/weights.part{i:02d}").read_bytes() for i in range(1, meta["chunks"] + 1))
    assert len(blob) == meta["bytes"], (len(blob), meta["bytes"])
    packed = load(blob)
    weights = {}
    for name, t in packed.items():
        if name.endswith(".int8"):
            base = name.removesuffix(".int8")
            weights[base] = (t.float() * packed[f"{base}.scale"]).contiguous()
        elif not name.endswith(".scale"):
            weights[name] = t
    dest.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(dest / "model.safetensors"))
    for f in Path(f"{prefix}-1/files").iterdir():
        shutil.copy(f, dest / f.name)
    return dest


def split_path(data: Path, ds: str, split: str) -> Path:
    plain = data / f"{ds}.{split}.jsonl"
    if plain.is_file():
        return plain
    out = Path("/tmp/data") / plain.name
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(gzip.decompress((data / f"{plain.name}.gz").read_bytes()))
    return out


def run_arguments(epochs: int) -> argparse.ArgumentParser:
    """The options both GPU runs take (this one and distill_run.py)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--packed", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--datasets", nargs="+", default=["flipkart", "myntra"])
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-items", type=int, help="a dry run on a few train items")
    return ap


def run_summary(**extra: object) -> dict:
    """The head of a run's summary: the device and torch it ran on."""
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {"device": device, "torch": torch.__version__, **extra, "datasets": {}}


def main() -> None:
    ap = run_arguments(epochs=5)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--score-limit", type=int, help="a dry run: score only this many items per split")
    args = ap.parse_args()
    t0 = time.time()
    enc = unpack_encoder(args.packed, Path("/tmp/encoder"))
    summary = run_summary(unpack_seconds=round(time.time() - t0, 1))
    args.out.mkdir(parents=True, exist_ok=True)
    for ds in args.datasets:
        paths = {s: split_path(args.data, ds, s) for s in ("train", "val", "test")}
        opts = TrainOptions(
            base_model=str(enc),
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            head_lr=5e-3,
            pos_weight_cap=3,
            field_dropout=0.1,
            precision="bf16",
            max_items=args.max_items,
        )
        model_dir = Path("/tmp/runs") / ds
        t1 = time.time()
        info = run_training(paths["train"], paths["val"], model_dir, opts, progress=False, echo=print)
        train_s = time.time() - t1
        test = evaluate_model_dir(model_dir, paths["test"], references=True)
        model = LocalModel(model_dir)
        for split, path in paths.items():  # one file a split: each returned file is at most 16 MiB
            texts = load_dataset(path).texts[: args.score_limit]
            scores = model.scores(texts, batch_size=256).astype(np.float16)
            np.savez_compressed(args.out / f"{ds}-{split}.npz", scores=scores, tags=np.array(model.vocab.tags))
        summary["datasets"][ds] = {
            "options": {k: v for k, v in opts.model_dump().items() if k != "base_model"},
            "train_seconds": round(train_s, 1),
            "best_epoch": info["best_epoch"],
            "history": info.get("history"),
            "validation": {k: info["validation"]["model"][k] for k in KEEP},
            "test": {k: test[k] for k in KEEP},
            "test_references": {name: {k: r[k] for k in KEEP} for name, r in test["references"].items()},
            "n_test": test["n_items"],
            "n_tags": test["n_tags"],
        }
        (args.out / "teacher_run.json").write_text(json.dumps(summary, indent=1))
        print(ds, json.dumps(summary["datasets"][ds]["test"]), json.dumps(summary["datasets"][ds]["test_references"]))
    summary["seconds"] = round(time.time() - t0, 1)
    (args.out / "teacher_run.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
