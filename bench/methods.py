"""Methods beyond one fine-tuning run, measured on the real splits (train and tune on train/validation,
report on test):

    python bench/methods.py lora     --data ../shared/data --out runs/methods [--full runs/full]
    python bench/methods.py few-shot --data ../shared/data --out runs/methods
    python bench/methods.py refresh  --data ../shared/data --out runs/methods
    python bench/methods.py unlabelled --data ../shared/data --out runs/methods

- lora: LoRA adapters (rank 8 and 16) against full fine-tuning: trainable parameters, training time,
  peak memory, test micro/macro-F1, and the merged model served by a real Triton (its scores against
  the in-process ones).
- few-shot: hold tags out of training, add each back with `add-tag` from k examples (k = 8, 16),
  report their test F1 and the change on every other tag.
- refresh: train on half of the catalogue (split by top-level category, so the second half brings new
  tags), refresh it with `--init-from` on the other half with and without replay, against training
  from scratch on everything; forgetting is the change on the first half's test items.
- unlabelled: keep the tags of a few train items (4,000 by default) and drop those of the rest; train
  a model on the tagged ones (the teacher, and the model without a teacher), then students with
  `--teacher` alone and with `--teacher --unlabelled` (the untagged rest), and a model on every tag
  as the ceiling; the TF-IDF reference on the tagged items alone. All on the full test split.

Every training run is a `tagstream train` subprocess with one torch thread, so runs side by side do not
share cores and each one's peak memory is its own. Writes bench/results/<method>.json and .png.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# bench/quality.py, beside this script (run as `python bench/methods.py`, like bench/extraction.py)
from quality import error_cut

from tagstream.trainer.data import load_dataset
from tagstream.trainer.evaluate import score_metrics
from tagstream.trainer.metrics import multilabel_metrics
from tagstream.trainer.predict import LocalModel

# the configuration chosen for both datasets by bench/full_runs.py (bench/results/full_runs.json)
FLAGS = ["--lr", "1e-4", "--head-lr", "5e-3", "--pos-weight-cap", "3", "--field-dropout", "0.1"]


def train(
    out: Path, train_path: Path, val_path: Path, *extra: str, epochs: int, references: bool = False
) -> subprocess.Popen:
    """A `tagstream train` subprocess (without the reference models and so without a blend, unless
    `references`); with TAGSTREAM_BENCH_REUSE=1 a finished run (metrics.json there) is kept and not
    trained again."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if os.environ.get("TAGSTREAM_BENCH_REUSE") == "1" and (out / "metrics.json").is_file():
        print(f"reusing {out}", flush=True)
        return subprocess.Popen(["true"])
    cmd = [sys.executable, "-m", "tagstream.cli", "train", "--train", str(train_path), "--val", str(val_path)]
    cmd += ["--out", str(out), "--epochs", str(epochs), "--threads", "1", *FLAGS, *extra]
    cmd += [] if references else ["--no-references"]
    log = open(out.with_suffix(".log"), "w")  # noqa: SIM115 - the child writes it until it ends
    print("$", " ".join(cmd), flush=True)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def wait(*procs: subprocess.Popen) -> None:
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"training failed: {' '.join(map(str, p.args))} (see its .log)")


def metrics_of(model_dir: Path) -> dict:
    return json.loads((model_dir / "metrics.json").read_text())


def predictions(model_dir: Path, texts: list[str], tag_lists: list[list[str]]) -> tuple[list[str], np.ndarray, dict]:
    """The model's tags, its decoded 0/1 predictions on `texts` and its metrics against `tag_lists`."""
    tagger = LocalModel(model_dir)
    tags = tagger.vocab.tags
    y = tagger.vocab.encode(tag_lists)
    m, pred = score_metrics(y, tagger.scores(texts), tagger.thresholds, tags, tagger.hierarchy)
    return tags, pred, m


def test_metrics(model_dir: Path, test: Path) -> dict:
    ds = load_dataset(test)
    return predictions(model_dir, ds.texts, ds.tag_lists)[2]


def write_results(results: Path, name: str, result: dict) -> Path:
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{name}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _bar_plot(
    path: Path,
    title: str,
    groups: dict[str, dict[str, float]],
    ylabel: str,
    ylim: tuple[float, float] = (0, 1),
    values: bool = False,
) -> None:
    """Grouped bars; `values` writes each bar's value on it (for bars that differ by little)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(groups)
    series = sorted({k for g in groups.values() for k in g})
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(names)), 4))
    w = 0.8 / max(len(series), 1)
    for i, s in enumerate(series):
        xs = [j + i * w for j in range(len(names))]
        bars = ax.bar(xs, [groups[n].get(s, 0.0) for n in names], width=w, label=s)
        if values:
            ax.bar_label(bars, fmt="%.4f", fontsize=7, padding=2)
    ax.set_xticks([j + w * (len(series) - 1) / 2 for j in range(len(names))], names)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(*ylim)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


# --- LoRA ---------------------------------------------------------------------------------------


def served_check(model_dirs: dict[str, Path], test: Path, n: int = 256) -> dict:
    """Export each (merged) model, serve them all with a real Triton, and compare its scores on `n`
    test items with the in-process model's."""
    import asyncio

    from tagstream.localstack.triton import TritonServer
    from tagstream.stream.settings import WorkerSettings
    from tagstream.stream.triton_client import TritonInference
    from tagstream.trainer.export import export_model
    from tagstream.trainer.serving import ServingConfig

    texts = load_dataset(test).texts[:n]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        for name, d in model_dirs.items():
            export_model(d, repo, serving=ServingConfig(model_name=name, threads=1, instance_count=1))
        server = TritonServer(repo, Path(tmp) / "work", load_models=tuple(model_dirs))
        server.start()
        try:
            for name, d in model_dirs.items():
                server.wait_model_ready(name)

                async def score(name: str = name) -> np.ndarray:
                    async with TritonInference.from_settings(
                        WorkerSettings(triton_url=server.grpc_url, model_name=name, triton_timeout_s=300)
                    ) as client:
                        return (await client.infer(texts)).scores

                served = asyncio.run(score())
                local = LocalModel(d).scores(texts)
                out[name] = {"items": len(texts), "max_abs_score_diff": float(np.abs(served - local).max())}
        finally:
            server.stop()
    return out


def cmd_lora(args: argparse.Namespace) -> None:
    result: dict = {"epochs": args.epochs, "threads_per_run": 1, "flags": FLAGS, "lora_lr": args.lora_lr, "runs": {}}
    for ds in args.datasets:
        tr, va, te = (args.data / f"{ds}.{s}.jsonl" for s in ("train", "val", "test"))
        runs = {f"lora_r{r}": args.out / f"{ds}-lora-r{r}" for r in args.ranks}
        t0 = time.time()
        procs = [
            train(d, tr, va, "--lora", "--lora-r", str(r), "--lr", str(args.lora_lr), epochs=args.epochs)
            for r, d in zip(args.ranks, runs.values(), strict=True)
        ]
        wait(*procs)
        print(f"{ds}: LoRA runs took {time.time() - t0:.0f} s", flush=True)
        full = args.full / f"{ds}-c" if args.full else None
        if full is not None and (full / "metrics.json").exists():
            runs = {"full": full, **runs}
        # the same short run with full fine-tuning and with LoRA, side by side: time per item and peak
        # memory compared under equal conditions (the full run above may have run beside others)
        probe = {"full_fine_tuning": [], "lora_r8": ["--lora", "--lora-r", "8"]}
        probe_dirs = {n: args.out / f"{ds}-probe-{n}" for n in probe}
        wait(*(train(probe_dirs[n], tr, va, "--max-items", "2000", *f, epochs=1) for n, f in probe.items()))
        result.setdefault("probe_2000_items_1_epoch", {})[ds] = {
            n: {k: metrics_of(d)[k] for k in ("trainable_params", "total_params", "peak_memory_mb", "train_seconds")}
            for n, d in probe_dirs.items()
        }
        rows = {}
        for name, d in runs.items():
            m = metrics_of(d)
            rows[name] = {
                "model": str(d),
                "trainable_params": m.get("trainable_params"),
                "total_params": m.get("total_params"),
                "peak_memory_mb": m.get("peak_memory_mb"),
                "train_seconds": round(m["train_seconds"], 1),
                "best_epoch": m["best_epoch"],
                "epochs_run": len(m["history"]),
                "seconds_per_epoch": round(m["train_seconds"] / len(m["history"]), 1),
                "test": test_metrics(d, te),
            }
            print(ds, name, {k: v for k, v in rows[name].items() if k != "test"}, rows[name]["test"]["micro_f1"])
        served = served_check({n: d for n, d in runs.items() if n != "full"}, te)
        for name, s in served.items():
            rows[name]["served_by_triton"] = s
        result["runs"][ds] = rows
    write_results(args.results, "lora", result)
    _bar_plot(
        args.results / "lora.png",
        "LoRA vs full fine-tuning (test)",
        {
            f"{ds}\n{n}": {"micro-F1": r["test"]["micro_f1"], "macro-F1": r["test"]["macro_f1"]}
            for ds, rs in result["runs"].items()
            for n, r in rs.items()
        },
        "F1",
    )


# --- few-shot new tags ----------------------------------------------------------------------------


def pick_held_out(train_rows: list[dict], test_rows: list[dict], n: int, seed: int) -> list[str]:
    """`n` leaf tags (no other tag is their child) with enough train items to draw k examples from and
    enough test items to measure F1 on."""
    from collections import Counter

    train_c = Counter(t for r in train_rows for t in r["tags"])
    test_c = Counter(t for r in test_rows for t in r["tags"])
    tags = set(train_c)
    parents = {t.rsplit(">", 1)[0] for t in tags if ">" in t}
    eligible = sorted(t for t in tags if t not in parents and train_c[t] >= 40 and test_c[t] >= 10)
    if len(eligible) < n:
        raise SystemExit(f"only {len(eligible)} tags can be held out (need {n})")
    return sorted(random.Random(seed).sample(eligible, n))


def tag_f1(y: np.ndarray, pred: np.ndarray, j: int) -> dict:
    tp = int((pred[:, j] & y[:, j]).sum())
    p, g = int(pred[:, j].sum()), int(y[:, j].sum())
    return {"f1": 2 * tp / max(p + g, 1), "precision": tp / max(p, 1), "recall": tp / max(g, 1), "support": g}


def cmd_few_shot(args: argparse.Namespace) -> None:
    from tagstream.trainer.add_tag import add_tag
    from tagstream.trainer.options import TrainOptions

    ds = args.dataset
    tr, va, te = (args.data / f"{ds}.{s}.jsonl" for s in ("train", "val", "test"))
    train_rows, test_rows = read_jsonl(tr), read_jsonl(te)
    held = pick_held_out(train_rows, test_rows, args.held_out, args.seed)
    print("held out:", held, flush=True)
    work = args.out / f"{ds}-few-shot"
    reduced = write_jsonl(
        work / "train.without.jsonl", [{**r, "tags": [t for t in r["tags"] if t not in held]} for r in train_rows]
    )
    base = work / "base"
    t0 = time.time()
    wait(train(base, reduced, va, "--threads", str(args.threads), epochs=args.epochs))
    base_seconds = time.time() - t0

    test = load_dataset(te)
    base_tags, base_pred, base_m = predictions(base, test.texts, test.tag_lists)
    result: dict = {
        "dataset": ds,
        "held_out_tags": held,
        "base_model": {"epochs": args.epochs, "train_seconds": round(base_seconds, 1), "test": base_m},
        "shots": {},
    }
    rng = random.Random(args.seed)
    for k in args.shots:
        draws = []
        for draw in range(args.draws):  # k examples are a small sample: several draws, mean and spread
            model = base
            t0 = time.time()
            added = []
            for i, tag in enumerate(held):
                with_tag = [r for r in train_rows if tag in r["tags"]]
                examples = write_jsonl(work / f"examples-k{k}-d{draw}" / f"{i}.jsonl", rng.sample(with_tag, k))
                out = work / f"added-k{k}-d{draw}"
                a = add_tag(model, tag, examples, tr, out, seed=TrainOptions().seed)
                added.append({"tag": tag, "threshold": a.threshold, "cv_f1": round(a.cv_f1, 4)})
                model = out
            add_seconds = time.time() - t0
            tags, pred, _ = predictions(model, test.texts, test.tag_lists)
            y = np.array([[t in set(ts) for t in tags] for ts in test.tag_lists], dtype=np.int8)
            others = [tags.index(t) for t in base_tags]
            draws.append(
                {
                    "seconds_to_add_all": round(add_seconds, 1),
                    "added": added,
                    "held_out_f1": {t: tag_f1(y, pred, tags.index(t)) for t in held},
                    "other_tags_after": multilabel_metrics(y[:, others], pred[:, others]),
                    "other_tags_predictions_changed": int((pred[:, others] != base_pred).sum()),
                }
            )
        other_before = multilabel_metrics(y[:, others], base_pred)
        f1 = np.array([[d["held_out_f1"][t]["f1"] for t in held] for d in draws])  # draws x tags
        result["shots"][str(k)] = {
            "draws": draws,
            "held_out_f1_mean": dict(zip(held, f1.mean(0).tolist(), strict=True)),
            "held_out_macro_f1_mean": float(f1.mean()),
            "held_out_macro_f1_std_over_draws": float(f1.mean(1).std()),
            "other_tags_before": {m: other_before[m] for m in ("micro_f1", "macro_f1")},
            "other_tags_after_worst_draw": {
                m: min(d["other_tags_after"][m] for d in draws) for m in ("micro_f1", "macro_f1")
            },
            "other_tags_predictions_changed_max": max(d["other_tags_predictions_changed"] for d in draws),
            "seconds_to_add_all_mean": float(np.mean([d["seconds_to_add_all"] for d in draws])),
        }
        print(f"k={k}: held-out macro-F1 {f1.mean():.4f} (+- {f1.mean(1).std():.4f} over draws)", flush=True)
    if args.full and (args.full / f"{ds}-c").exists():
        tags, pred, _ = predictions(args.full / f"{ds}-c", test.texts, test.tag_lists)
        y = np.array([[t in set(ts) for t in tags] for ts in test.tag_lists], dtype=np.int8)
        full = {t: tag_f1(y, pred, tags.index(t))["f1"] for t in held}
        result["fully_trained_reference"] = {"model": str(args.full / f"{ds}-c"), "held_out_f1": full}
    write_results(args.results, "few_shot", result)
    groups = {
        t.split(">")[-1][:18]: {f"k={k}": result["shots"][str(k)]["held_out_f1_mean"][t] for k in args.shots}
        for t in held
    }
    if "fully_trained_reference" in result:
        for t in held:
            groups[t.split(">")[-1][:18]]["all train items"] = result["fully_trained_reference"]["held_out_f1"][t]
    _bar_plot(args.results / "few_shot.png", f"{ds}: tags added from k examples (test F1)", groups, "F1")


# --- continual refresh ----------------------------------------------------------------------------


def split_by_top_category(rows: list[dict]) -> tuple[set[str], set[str]]:
    """Top-level categories into two halves of about equal item counts (largest first, each to the
    smaller half)."""
    from collections import Counter

    tops = Counter(next((t for t in r["tags"] if t.startswith("category:") and ">" not in t), "") for r in rows)
    a: set[str] = set()
    b: set[str] = set()
    na = nb = 0
    for cat, c in tops.most_common():
        if na <= nb:
            a.add(cat)
            na += c
        else:
            b.add(cat)
            nb += c
    return a, b


def cmd_refresh(args: argparse.Namespace) -> None:
    ds = args.dataset
    tr, va, te = (args.data / f"{ds}.{s}.jsonl" for s in ("train", "val", "test"))
    work = args.out / f"{ds}-refresh"
    train_rows, val_rows, test_rows = read_jsonl(tr), read_jsonl(va), read_jsonl(te)
    cats_a, _ = split_by_top_category(train_rows)

    def half(rows: list[dict], first: bool) -> list[dict]:
        return [
            r
            for r in rows
            if (next((t for t in r["tags"] if t.startswith("category:") and ">" not in t), "") in cats_a) == first
        ]

    paths = {}
    for name, rows in (("train", train_rows), ("val", val_rows), ("test", test_rows)):
        paths[f"{name}_a"] = write_jsonl(work / f"{name}.a.jsonl", half(rows, True))
        paths[f"{name}_b"] = write_jsonl(work / f"{name}.b.jsonl", half(rows, False))
    models = {k: work / k for k in ("first_half", "refresh_replay", "refresh_no_replay", "scratch_all")}
    t0 = time.time()
    first = train(models["first_half"], paths["train_a"], paths["val_a"], epochs=args.epochs)
    scratch = train(models["scratch_all"], tr, va, epochs=args.epochs)
    wait(first)
    refreshes = [
        train(
            models[name],
            paths["train_b"],
            va,
            "--init-from",
            str(models["first_half"]),
            "--replay",
            str(paths["train_a"]),
            "--replay-ratio",
            ratio,
            epochs=args.epochs,
        )
        for name, ratio in (("refresh_replay", str(args.replay_ratio)), ("refresh_no_replay", "0"))
    ]
    wait(scratch, *refreshes)
    print(f"refresh runs took {time.time() - t0:.0f} s", flush=True)
    result: dict = {
        "dataset": ds,
        "split": "by top-level category; first half: " + ", ".join(sorted(cats_a)),
        "epochs": args.epochs,
        "replay_ratio": args.replay_ratio,
        "items": {k: len(read_jsonl(p)) for k, p in paths.items()},
        "models": {},
    }
    for name, d in models.items():
        m = metrics_of(d)
        result["models"][name] = {
            "train_seconds": round(m["train_seconds"], 1),
            "n_train": m["n_train"],
            "n_tags": m["n_tags"],
            "test_first_half": test_metrics(d, paths["test_a"]),
            "test_second_half": test_metrics(d, paths["test_b"]),
            "test_all": test_metrics(d, te),
        }
    before = result["models"]["first_half"]["test_first_half"]["micro_f1"]
    for name in ("refresh_replay", "refresh_no_replay", "scratch_all"):
        result["models"][name]["forgetting_first_half_micro_f1"] = (
            before - result["models"][name]["test_first_half"]["micro_f1"]
        )
    write_results(args.results, "refresh", result)
    _bar_plot(
        args.results / "refresh.png",
        f"{ds}: continual refresh (test micro-F1)",
        {
            n.replace("_", "\n"): {
                "first half": r["test_first_half"]["micro_f1"],
                "second half": r["test_second_half"]["micro_f1"],
                "all": r["test_all"]["micro_f1"],
            }
            for n, r in result["models"].items()
        },
        "micro-F1",
    )


# --- unlabelled items -------------------------------------------------------------------------


def paired_bootstrap(y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, n: int = 2000, seed: int = 0) -> dict:
    """Micro-F1 of `pred_a` minus that of `pred_b` on the same items, with a 95 % interval from `n`
    resamples of the items (both models on each resample)."""
    y = y.astype(bool)

    def counts(pred: np.ndarray) -> np.ndarray:  # per item: true positives, false positives, false negatives
        p = pred.astype(bool)
        return np.c_[(p & y).sum(1), (p & ~y).sum(1), (~p & y).sum(1)]

    def micro(c: np.ndarray) -> float:
        tp, fp, fn = c.sum(0)
        return 2 * tp / max(2 * tp + fp + fn, 1)

    a, b = counts(pred_a), counts(pred_b)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        diffs.append(micro(a[i]) - micro(b[i]))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return {"difference": micro(a) - micro(b), "ci95": [float(low), float(high)], "resamples": n}


def cmd_unlabelled(args: argparse.Namespace) -> None:
    from tagstream.core.artifact import TagVocabulary
    from tagstream.trainer.baselines import TfidfBaseline

    ds = args.dataset
    tr, va, te = (args.data / f"{ds}.{s}.jsonl" for s in ("train", "val", "test"))
    work = args.out / f"{ds}-unlabelled"
    rows = read_jsonl(tr)
    random.Random(args.seed).shuffle(rows)
    tagged = write_jsonl(work / "tagged.jsonl", rows[: args.labelled])
    untagged = write_jsonl(
        work / "untagged.jsonl", [{k: v for k, v in r.items() if k != "tags"} for r in rows[args.labelled :]]
    )
    # with --blend-teacher the teacher is its own run: the tagged-only model blended with TF-IDF
    # where that pays on validation (the served model a user would have); else the plain model
    prefix = "blend_" if args.blend_teacher else ""
    own_teacher = ["blend_teacher"] if args.blend_teacher else []
    names = ["tagged_only", *own_teacher, f"{prefix}teacher_only", f"{prefix}teacher_unlabelled", "every_tag"]
    models = {k: work / k for k in names}
    teacher_dir = models.get("blend_teacher", models["tagged_only"])
    stem = f"unlabelled{'_blend' if args.blend_teacher else ''}"
    t0 = time.time()
    first = [train(models["tagged_only"], tagged, va, epochs=args.epochs)]
    if args.blend_teacher:
        first.append(train(teacher_dir, tagged, va, epochs=args.epochs, references=True))
    ceiling = train(models["every_tag"], tr, va, epochs=args.epochs)
    wait(*first)
    with_unlabelled = train(
        models[f"{prefix}teacher_unlabelled"],
        tagged,
        va,
        "--teacher",
        str(teacher_dir),
        "--unlabelled",
        str(untagged),
        epochs=args.epochs,
    )
    wait(ceiling)
    alone = train(models[f"{prefix}teacher_only"], tagged, va, "--teacher", str(teacher_dir), epochs=args.epochs)
    wait(with_unlabelled, alone)
    print(f"runs took {time.time() - t0:.0f} s", flush=True)
    # the same-run reference: TF-IDF on the tagged items, in the tagged-only model's tag space
    vocab = TagVocabulary.load(models["tagged_only"])
    tag_set, val_ds, test_ds = load_dataset(tagged), load_dataset(va), load_dataset(te)
    tfidf = TfidfBaseline(n_jobs=1).fit(
        tag_set.texts, vocab.encode(tag_set.tag_lists), val_ds.texts, vocab.encode(val_ds.tag_lists), vocab.tags
    )
    assert tfidf.thresholds is not None
    y_test = vocab.encode(test_ds.tag_lists)
    reference = score_metrics(y_test, tfidf.scores(test_ds.texts), tfidf.thresholds, vocab.tags)[0]

    def test_in_tag_space(model_dir: Path) -> np.ndarray:
        """Test predictions on the tagged-only model's tags (the model on every tag knows more tags;
        its others are left out, so that every row scores the same tags)."""
        tags, pred, _ = predictions(model_dir, test_ds.texts, test_ds.tag_lists)
        col = {t: j for j, t in enumerate(tags)}
        return pred[:, [col[t] for t in vocab.tags]]

    result: dict = {
        "dataset": ds,
        "epochs": args.epochs,
        "seed": args.seed,
        "items": {"tagged": args.labelled, "untagged": len(rows) - args.labelled, "test": len(test_ds.items)},
        "tags": f"the {len(vocab.tags)} tags of the tagged-only model, for every row",
        "teacher_weight": metrics_of(models[f"{prefix}teacher_only"])["options"]["teacher_weight"],
        "tfidf_tagged_only": reference,
        "models": {},
    }
    preds = {name: test_in_tag_space(d) for name, d in models.items()}
    for name, d in models.items():
        m = metrics_of(d)
        test = multilabel_metrics(y_test, preds[name])
        result["models"][name] = {
            "train_seconds": round(m["train_seconds"], 1),
            "n_train": m["n_train"],
            "n_unlabelled": m.get("n_unlabelled", 0),
            "best_epoch": m["best_epoch"],
            "test": test,
            "error_cut_vs_tfidf": {k: error_cut(test[k], reference[k]) for k in ("micro_f1", "macro_f1")},
        }
    base, top = (result["models"][k]["test"] for k in ("tagged_only", "every_tag"))
    for name in (f"{prefix}teacher_only", f"{prefix}teacher_unlabelled"):
        got = result["models"][name]["test"]
        result["models"][name]["gap_to_every_tag_closed"] = {
            k: (got[k] - base[k]) / (top[k] - base[k]) if top[k] != base[k] else None for k in ("micro_f1", "macro_f1")
        }
        result["models"][name]["micro_f1_gain_over_tagged_only"] = paired_bootstrap(
            y_test, preds[name], preds["tagged_only"]
        )
    if args.blend_teacher:
        result["teacher_blend_weight"] = (metrics_of(teacher_dir)["validation"].get("blend") or {}).get("weight")
    write_results(args.results, stem, result)
    groups = {
        n.replace("_", "\n"): {"micro-F1": r["test"]["micro_f1"], "macro-F1": r["test"]["macro_f1"]}
        for n, r in result["models"].items()
    }
    groups["TF-IDF\ntagged only"] = {"micro-F1": reference["micro_f1"], "macro-F1": reference["macro_f1"]}
    _bar_plot(
        args.results / f"{stem}.png",
        f"{ds}: {args.labelled:,} tagged + {len(rows) - args.labelled:,} untagged train items (test split)",
        groups,
        "F1",
        ylim=(min(v for g in groups.values() for v in g.values()) - 0.05, 1.0),
        values=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="method", required=True)
    for name in ("lora", "few-shot", "refresh", "unlabelled"):
        p = sub.add_parser(name)
        p.add_argument("--data", type=Path, required=True)
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--results", type=Path, default=Path("bench/results"))
        p.add_argument("--full", type=Path, default=None, help="bench/full_runs.py output (the full runs)")
        p.add_argument("--seed", type=int, default=13)
        if name == "lora":
            p.add_argument("--datasets", nargs="+", default=["flipkart"])
            p.add_argument("--ranks", type=int, nargs="+", default=[8, 16])
            p.add_argument("--epochs", type=int, default=8)
            p.add_argument("--lora-lr", type=float, default=5e-4, help="adapters learn with a higher rate")
        elif name == "few-shot":
            p.add_argument("--dataset", default="flipkart")
            p.add_argument("--held-out", type=int, default=10)
            p.add_argument("--shots", type=int, nargs="+", default=[8, 16])
            p.add_argument("--epochs", type=int, default=4)
            p.add_argument("--threads", default="2")
            p.add_argument("--draws", type=int, default=3, help="draws of k examples per tag")
        elif name == "refresh":
            p.add_argument("--dataset", default="flipkart")
            p.add_argument("--epochs", type=int, default=3)
            p.add_argument("--replay-ratio", type=float, default=0.5)
        else:
            p.add_argument("--dataset", default="flipkart")
            p.add_argument("--epochs", type=int, default=3)
            p.add_argument("--labelled", type=int, default=4000, help="train items that keep their tags")
            p.add_argument("--blend-teacher", action="store_true", help="teach with the blend with TF-IDF")
    args = ap.parse_args()
    {"lora": cmd_lora, "few-shot": cmd_few_shot, "refresh": cmd_refresh, "unlabelled": cmd_unlabelled}[args.method](
        args
    )


if __name__ == "__main__":
    main()
