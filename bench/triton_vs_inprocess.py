"""In-process torch vs the same model served by Triton, measured side by side in one run.

    python bench/triton_vs_inprocess.py --model runs/sample --data examples/catalogue.test.jsonl

- in-process: the model called directly, batches of `c` items at concurrency c (1, 4, 16), plus
  "batched" (batches of 32): the reference throughput;
- Triton: one text per request from `c` concurrent async gRPC callers (dynamic batching groups them),
  for fp32 torch, fp32 ONNX Runtime, int8 ONNX Runtime (per-tensor and per-channel weight scales)
  and int8 torch (dynamic quantization). The variants are measured in turn, round after round
  (`--rounds`, after a warm-up round), and each reports its median round; a ratio is computed within
  each round and the median over rounds is reported, so that a noisy moment hits both sides alike;
- quality: micro-F1 of every served variant on the data, with the model's thresholds.
Writes bench/results/triton_vs_inprocess.json and .png. Numbers are machine-dependent; the ratios,
measured in one run on one machine, are what to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from stream.triton_client import TritonTagger
from stream.tritonserver import TritonServer
from trainer.data import load_dataset
from trainer.export import ServingConfig, export_model
from trainer.metrics import multilabel_metrics
from trainer.predict import Tagger, predict_proba

VARIANTS = {  # model name in the bench repo: (backend, quantize, per-channel)
    "tagger_torch_fp32": ("torch", None, False),
    "tagger_onnx_fp32": ("onnx", None, False),
    "tagger_onnx_int8": ("onnx", "int8", False),
    "tagger_onnx_int8_pc": ("onnx", "int8", True),
    "tagger_torch_int8": ("torch", "int8", False),
}


def pct(xs, q):
    return float(np.percentile(np.asarray(xs) * 1000.0, q))


def bench_inprocess(tagger: Tagger, texts: list[str], batch: int, n_items: int) -> dict:
    lat, done = [], 0
    predict_proba(tagger.model, tagger.tokenizer, texts[:batch], batch_size=batch)  # warm-up
    t0 = time.perf_counter()
    while done < n_items:
        chunk = [texts[(done + i) % len(texts)] for i in range(batch)]
        s = time.perf_counter()
        predict_proba(tagger.model, tagger.tokenizer, chunk, batch_size=batch)
        lat.append(time.perf_counter() - s)
        done += batch
    wall = time.perf_counter() - t0
    return {"items_per_s": done / wall, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "items": done}


def median_round(rounds: list[dict]) -> dict:
    """The round with the median throughput, with every round's throughput alongside."""
    ordered = sorted(rounds, key=lambda r: r["items_per_s"])
    return ordered[len(ordered) // 2] | {"rounds_items_per_s": [r["items_per_s"] for r in rounds]}


async def bench_triton(url: str, model: str, texts: list[str], concurrency: int, n_items: int) -> dict:
    async with TritonTagger(url, model, timeout_s=60) as client:
        await client.infer(texts[:4])  # warm-up + metadata
        lat: list[float] = []
        counter = iter(range(n_items))

        async def worker():
            for i in counter:
                s = time.perf_counter()
                await client.infer([texts[i % len(texts)]])
                lat.append(time.perf_counter() - s)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"items_per_s": n_items / wall, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "items": n_items}


async def served_f1(url: str, model: str, texts: list[str], y: np.ndarray, thresholds: np.ndarray) -> float:
    async with TritonTagger(url, model, timeout_s=120) as client:
        scores = (await client.infer(texts)).scores
    return multilabel_metrics(y, (scores >= thresholds).astype(np.int8))["micro_f1"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=Path("examples/catalogue.test.jsonl"))
    ap.add_argument("--items", type=int, default=384, help="items per measurement")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--rounds", type=int, default=3, help="measure every variant this many times, in turn")
    ap.add_argument("--warmup-rounds", type=int, default=1, help="rounds run first and not counted")
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    args = ap.parse_args()

    ds = load_dataset(args.data)
    texts = ds.texts
    tagger = Tagger(args.model)
    y = tagger.vocab.encode(ds.tag_lists)
    thr = tagger.thresholds.vector(tagger.vocab.tags)
    threads = os.cpu_count() or 1

    result: dict = {"machine": {"cpus": threads, "platform": platform.platform(), "python": platform.python_version()},
                    "model": str(args.model), "data": str(args.data), "n_items_data": len(texts), "rounds": args.rounds, "warmup_rounds": args.warmup_rounds,
                    "inprocess": {}, "triton": {}}
    inproc_keys = {str(c): c for c in args.concurrency} | {"batched": 32}
    inproc_rounds: dict = {k: [] for k in inproc_keys}
    inproc_scores = tagger.scores(texts)
    result["inprocess_micro_f1"] = multilabel_metrics(y, (inproc_scores >= thr).astype(np.int8))["micro_f1"]

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        for name in args.variants:
            backend, quant, per_channel = VARIANTS[name]
            export_model(args.model, repo, backend=backend, quantize=quant, per_channel=per_channel,
                         serving=ServingConfig(model_name=name, torch_threads=1, instance_count=threads, max_batch_size=64, preferred_batch_sizes=(4, 8, 16, 32)))
        server = TritonServer(repo=repo, workdir=Path(tmp) / "work", load_models=tuple(args.variants))
        server.start()
        try:
            deadline = time.monotonic() + 300
            while not all(server.model_ready(n) for n in args.variants):
                if time.monotonic() > deadline:
                    raise SystemExit(f"models did not load; see {server.workdir / 'tritonserver.log'}")
                time.sleep(1)
            rounds: dict = {name: {c: [] for c in args.concurrency} for name in args.variants}
            for r in range(-args.warmup_rounds, args.rounds):
                if r == 0:  # the warm-up rounds are over: forget them
                    inproc_rounds = {k: [] for k in inproc_keys}
                    rounds = {name: {c: [] for c in args.concurrency} for name in args.variants}
                # in-process while Triton idles (its instances wait without using the CPU)
                for key, c in inproc_keys.items():
                    inproc_rounds[key].append(bench_inprocess(tagger, texts, c, args.items))
                    print(f"round {r + 1}" if r >= 0 else "warm-up", "in-process", key, inproc_rounds[key][-1], flush=True)
                for c in args.concurrency:
                    for name in args.variants:
                        rounds[name][c].append(asyncio.run(bench_triton(server.grpc_url, name, texts, c, args.items)))
                        print(f"round {r + 1}" if r >= 0 else "warm-up", name, c, rounds[name][c][-1], flush=True)
            for name in args.variants:
                res = {"micro_f1": asyncio.run(served_f1(server.grpc_url, name, texts, y, thr))}
                res |= {str(c): median_round(rounds[name][c]) for c in args.concurrency}
                result["triton"][name] = res
            result["inprocess"] = {k: median_round(v) for k, v in inproc_rounds.items()}
        finally:
            server.stop()

    top = str(max(args.concurrency))
    # Each ratio is taken within a round (the two numbers measured minutes apart at most) and the
    # median over rounds is reported; every round's ratio is kept next to it.
    ratios, per_round = {}, {}

    def ratio(name: str, num: dict, den: dict) -> None:
        rs = [a / b for a, b in zip(num["rounds_items_per_s"], den["rounds_items_per_s"])]
        per_round[name] = rs
        ratios[name] = float(np.median(rs))

    fp32 = result["triton"].get("tagger_torch_fp32", {})
    if fp32:
        ratio(f"triton_torch_fp32_c{top}_vs_inprocess_batched", fp32[top], result["inprocess"]["batched"])
        ratio(f"triton_torch_fp32_c{top}_vs_inprocess_c{top}", fp32[top], result["inprocess"][top])
    pairs = [(q, b) for q in ("tagger_onnx_int8", "tagger_onnx_int8_pc") for b in ("tagger_onnx_fp32", "tagger_torch_fp32")]
    pairs += [("tagger_torch_int8", "tagger_torch_fp32"), ("tagger_onnx_fp32", "tagger_torch_fp32")]
    for q, base in pairs:
        if q in result["triton"] and base in result["triton"]:
            ratio(f"{q}_vs_{base}_throughput_c{top}", result["triton"][q][top], result["triton"][base][top])
            ratios[f"{q}_vs_{base}_micro_f1_points"] = 100 * (result["triton"][q]["micro_f1"] - result["triton"][base]["micro_f1"])
    result["ratios_per_round"] = per_round
    result["ratios"] = ratios
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "triton_vs_inprocess.json").write_text(json.dumps(result, indent=1))
    plot(result, args.concurrency, args.out / "triton_vs_inprocess.png")
    print(json.dumps(ratios, indent=1))


def plot(result: dict, concurrency: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4), dpi=110)
    series = {"in-process torch": result["inprocess"]} | {k.replace("tagger_", "triton "): v for k, v in result["triton"].items()}
    for label, res in series.items():
        xs = [c for c in concurrency if str(c) in res]
        a1.plot(xs, [res[str(c)]["items_per_s"] for c in xs], "o-", label=label)
        a2.plot(xs, [res[str(c)]["p99_ms"] for c in xs], "o-", label=label)
    a1.axhline(result["inprocess"]["batched"]["items_per_s"], color="grey", ls=":", label="in-process batched (32)")
    a1.set(xscale="log", xlabel="client concurrency", ylabel="items/s", title="throughput")
    a2.set(xscale="log", yscale="log", xlabel="client concurrency", ylabel="p99 latency (ms)", title="p99 latency per request")
    for a in (a1, a2):
        a.set_xticks(concurrency, [str(c) for c in concurrency])
    a1.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
