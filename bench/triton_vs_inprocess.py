"""In-process torch vs the same model served by Triton, measured side by side in one run.

    python bench/triton_vs_inprocess.py --model runs/sample --data examples/catalogue.test.jsonl

- in-process: the model called directly, batches of `c` items at concurrency c (1, 4, 16), plus
  "batched" (batches of 32): the reference throughput;
- Triton: one text per request from `c` concurrent async gRPC callers (dynamic batching groups them),
  for fp32 torch, fp32 ONNX Runtime, int8 ONNX Runtime and int8 torch (dynamic quantization);
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

VARIANTS = {  # model name in the bench repo: (backend, quantize)
    "tagger_torch_fp32": ("torch", None),
    "tagger_onnx_fp32": ("onnx", None),
    "tagger_onnx_int8": ("onnx", "int8"),
    "tagger_torch_int8": ("torch", "int8"),
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
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    args = ap.parse_args()

    ds = load_dataset(args.data)
    texts = ds.texts
    tagger = Tagger(args.model)
    y = tagger.vocab.encode(ds.tag_lists)
    thr = tagger.thresholds.vector(tagger.vocab.tags)
    threads = os.cpu_count() or 1

    result: dict = {"machine": {"cpus": threads, "platform": platform.platform(), "python": platform.python_version()},
                    "model": str(args.model), "data": str(args.data), "n_items_data": len(texts), "inprocess": {}, "triton": {}}
    for c in args.concurrency + [32]:
        key = "batched" if c == 32 else str(c)
        result["inprocess"][key] = bench_inprocess(tagger, texts, c, args.items)
        print("in-process", key, result["inprocess"][key], flush=True)
    inproc_scores = tagger.scores(texts)
    result["inprocess_micro_f1"] = multilabel_metrics(y, (inproc_scores >= thr).astype(np.int8))["micro_f1"]

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        for name in args.variants:
            backend, quant = VARIANTS[name]
            export_model(args.model, repo, backend=backend, quantize=quant,
                         serving=ServingConfig(model_name=name, torch_threads=1, instance_count=threads, max_batch_size=64, preferred_batch_sizes=(4, 8, 16, 32)))
        server = TritonServer(repo=repo, workdir=Path(tmp) / "work", load_models=tuple(args.variants))
        server.start()
        try:
            deadline = time.monotonic() + 300
            while not all(server.model_ready(n) for n in args.variants):
                if time.monotonic() > deadline:
                    raise SystemExit(f"models did not load; see {server.workdir / 'tritonserver.log'}")
                time.sleep(1)
            for name in args.variants:
                res = {"micro_f1": asyncio.run(served_f1(server.grpc_url, name, texts, y, thr))}
                for c in args.concurrency:
                    res[str(c)] = asyncio.run(bench_triton(server.grpc_url, name, texts, c, args.items))
                    print(name, c, res[str(c)], flush=True)
                result["triton"][name] = res
        finally:
            server.stop()

    top = str(max(args.concurrency))
    fp32 = result["triton"].get("tagger_torch_fp32", {})
    ratios = {}
    if fp32:
        ratios["triton_torch_fp32_c%s_vs_inprocess_batched" % top] = fp32[top]["items_per_s"] / result["inprocess"]["batched"]["items_per_s"]
        ratios["triton_torch_fp32_c%s_vs_inprocess_c%s" % (top, top)] = fp32[top]["items_per_s"] / result["inprocess"][top]["items_per_s"]
    for q, base in (("tagger_onnx_int8", "tagger_onnx_fp32"), ("tagger_onnx_int8", "tagger_torch_fp32"), ("tagger_torch_int8", "tagger_torch_fp32"), ("tagger_onnx_fp32", "tagger_torch_fp32")):
        if q in result["triton"] and base in result["triton"]:
            ratios[f"{q}_vs_{base}_throughput_c{top}"] = result["triton"][q][top]["items_per_s"] / result["triton"][base][top]["items_per_s"]
            ratios[f"{q}_vs_{base}_micro_f1_points"] = 100 * (result["triton"][q]["micro_f1"] - result["triton"][base]["micro_f1"])
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
