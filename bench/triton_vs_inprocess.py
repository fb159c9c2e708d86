"""In-process torch vs the same model served by Triton, measured side by side in one run.

    python bench/triton_vs_inprocess.py --model runs/sample --data examples/catalogue.test.jsonl

- in-process: the model called directly, batches of `c` items at concurrency c (1, 4, 16), plus
  "batched" (batches of 32): the reference throughput;
- Triton: one text per request from `c` concurrent async gRPC callers (dynamic batching groups them),
  for fp32 torch, fp32 ONNX Runtime, int8 ONNX Runtime (per-tensor and per-channel weight scales)
  and int8 torch (dynamic quantization). The variants are measured in turn, round after round
  (`--rounds`, after a warm-up round), and each reports its median round;
- side by side: at the top concurrency every Triton measurement is bracketed by two in-process
  batched measurements (B V1 B V2 B ...), and its throughput is divided by the mean of the two. The
  ratios use these normalised numbers (median over rounds), so that this machine's drift of +-15%
  from minute to minute hits both sides of a ratio alike;
- artefact: each exported version run in-process with the served code (`VersionScorer`, all
  cores, batches of 32), right after its Triton point: the model's own speed, without serving;
- CPU: the cores each side used while measured (the Triton server's process tree, the client
  process), to show where the time goes;
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
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil

from tagstream.localstack.triton import TritonServer
from tagstream.stream.settings import WorkerSettings
from tagstream.stream.triton_client import TritonInference
from tagstream.trainer.data import load_dataset
from tagstream.trainer.export import export_model
from tagstream.trainer.metrics import multilabel_metrics
from tagstream.trainer.predict import LocalModel, predict_proba
from tagstream.trainer.serving import ServingConfig
from tagstream.trainer.triton_backend.model import VersionScorer

VARIANTS = {  # model name in the bench repo: (backend, quantize, per-channel)
    "tagger_torch_fp32": ("torch", None, False),
    "tagger_onnx_fp32": ("onnx", None, False),
    "tagger_onnx_int8": ("onnx", "int8", False),
    "tagger_onnx_int8_pc": ("onnx", "int8", True),
    "tagger_torch_int8": ("torch", "int8", False),
}


def pct(xs, q):
    return float(np.percentile(np.asarray(xs) * 1000.0, q))


def cpu_seconds(proc: psutil.Process, tree: bool = False) -> float:
    """User + system CPU time of a process (and, with tree, of its children: Triton's python stubs)."""
    total = 0.0
    for p in [proc, *(proc.children(recursive=True) if tree else [])]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:  # a child that just exited
            pass
    return total


def bench_batches(score: Callable[[list[str]], object], texts: list[str], batch: int, n_items: int) -> dict:
    """In-process throughput of `score` (a model or an exported artefact) on batches of `batch` texts."""
    lat, done = [], 0
    score(texts[:batch])  # warm-up
    me = psutil.Process()
    cpu0 = cpu_seconds(me)
    t0 = time.perf_counter()
    while done < n_items:
        chunk = [texts[(done + i) % len(texts)] for i in range(batch)]
        s = time.perf_counter()
        score(chunk)
        lat.append(time.perf_counter() - s)
        done += batch
    wall = time.perf_counter() - t0
    return {
        "items_per_s": done / wall,
        "p50_ms": pct(lat, 50),
        "p99_ms": pct(lat, 99),
        "items": done,
        "cpu_cores": (cpu_seconds(me) - cpu0) / wall,
    }


def bench_inprocess(tagger: LocalModel, texts: list[str], batch: int, n_items: int) -> dict:
    """The trained model in-process (torch, all cores)."""
    return bench_batches(
        lambda chunk: predict_proba(tagger.model, tagger.tokenizer, chunk, batch_size=batch),
        texts,
        batch,
        n_items,
    )


def median_round(rounds: list[dict]) -> dict:
    """The round with the median throughput, with every round's throughput alongside."""
    ordered = sorted(rounds, key=lambda r: r["items_per_s"])
    return ordered[len(ordered) // 2] | {"rounds_items_per_s": [r["items_per_s"] for r in rounds]}


async def bench_triton(
    url: str, model: str, texts: list[str], concurrency: int, n_items: int, server: psutil.Process
) -> dict:
    me = psutil.Process()
    async with TritonInference.from_settings(
        WorkerSettings(triton_url=url, model_name=model, triton_timeout_s=60)
    ) as client:
        await client.infer(texts[:4])  # warm-up + metadata
        lat: list[float] = []
        counter = iter(range(n_items))

        async def worker():
            for i in counter:
                s = time.perf_counter()
                await client.infer([texts[i % len(texts)]])
                lat.append(time.perf_counter() - s)

        cpu0, srv0 = cpu_seconds(me), cpu_seconds(server, tree=True)
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
        cpu1, srv1 = cpu_seconds(me), cpu_seconds(server, tree=True)
    return {
        "items_per_s": n_items / wall,
        "p50_ms": pct(lat, 50),
        "p99_ms": pct(lat, 99),
        "items": n_items,
        "server_cpu_cores": (srv1 - srv0) / wall,
        "client_cpu_cores": (cpu1 - cpu0) / wall,
    }


async def served_f1(url: str, model: str, texts: list[str], y: np.ndarray, thresholds: np.ndarray) -> float:
    async with TritonInference.from_settings(
        WorkerSettings(triton_url=url, model_name=model, triton_timeout_s=120)
    ) as client:
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
    tagger = LocalModel(args.model)
    y = tagger.vocab.encode(ds.tag_lists)
    thr = tagger.thresholds.vector(tagger.vocab.tags)
    threads = os.cpu_count() or 1

    result: dict = {
        "machine": {"cpus": threads, "platform": platform.platform(), "python": platform.python_version()},
        "model": str(args.model),
        "data": str(args.data),
        "n_items_data": len(texts),
        "rounds": args.rounds,
        "warmup_rounds": args.warmup_rounds,
        "inprocess": {},
        "triton": {},
    }
    inproc_keys = {str(c): c for c in args.concurrency} | {"batched": 32}
    inproc_rounds: dict = {k: [] for k in inproc_keys}
    inproc_scores = tagger.scores(texts)
    result["inprocess_micro_f1"] = multilabel_metrics(y, (inproc_scores >= thr).astype(np.int8))["micro_f1"]

    top = max(args.concurrency)
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        for name in args.variants:
            backend, quant, per_channel = VARIANTS[name]
            export_model(
                args.model,
                repo,
                backend=backend,
                quantize=quant,
                per_channel=per_channel,
                serving=ServingConfig(
                    model_name=name,
                    threads=1,
                    instance_count=threads,
                    max_batch_size=64,
                    preferred_batch_sizes=(4, 8, 16, 32),
                ),
            )
        # each exported artefact in-process too, with all cores: the raw model speed of every variant
        scorers = {name: VersionScorer(repo / name / "1", threads=threads) for name in args.variants}
        raw_rounds: dict = {name: [] for name in args.variants}
        server = TritonServer(repo, Path(tmp) / "work", load_models=tuple(args.variants))
        server.start()
        try:
            for n in args.variants:
                server.wait_model_ready(n)
            server_proc = psutil.Process(server.proc.pid)
            rounds: dict = {name: {c: [] for c in args.concurrency} for name in args.variants}
            for r in range(-args.warmup_rounds, args.rounds):
                label = f"round {r + 1}" if r >= 0 else "warm-up"
                if r == 0:  # the warm-up rounds are over: forget them
                    inproc_rounds = {k: [] for k in inproc_keys}
                    rounds = {name: {c: [] for c in args.concurrency} for name in args.variants}
                    raw_rounds = {name: [] for name in args.variants}
                # in-process while Triton idles (its instances wait without using the CPU)
                for key, c in inproc_keys.items():
                    if key != "batched":  # batched is measured around each top-concurrency Triton point
                        inproc_rounds[key].append(bench_inprocess(tagger, texts, c, args.items))
                        print(label, "in-process", key, inproc_rounds[key][-1], flush=True)
                for c in args.concurrency:
                    if c == top:
                        before = bench_inprocess(tagger, texts, 32, args.items)
                        print(label, "in-process batched", before, flush=True)
                    for name in args.variants:
                        res = asyncio.run(bench_triton(server.grpc_url, name, texts, c, args.items, server_proc))
                        if c == top:  # B V(Triton) V(artefact in-process) B: the reference right before and after
                            raw = bench_batches(scorers[name].scores, texts, 32, args.items)
                            after = bench_inprocess(tagger, texts, 32, args.items)
                            inproc_rounds["batched"].append(before)
                            ref = (before["items_per_s"] + after["items_per_s"]) / 2
                            res |= {
                                "inprocess_batched_around": ref,
                                "vs_inprocess_batched": res["items_per_s"] / ref,
                            }
                            raw |= {
                                "inprocess_batched_around": ref,
                                "vs_inprocess_batched": raw["items_per_s"] / ref,
                            }
                            raw_rounds[name].append(raw)
                            print(label, name, "artefact in-process, batches of 32", raw, flush=True)
                            print(label, "in-process batched", after, flush=True)
                            before = after
                        rounds[name][c].append(res)
                        print(label, name, c, res, flush=True)
                    if c == top:
                        inproc_rounds["batched"].append(before)
            for name in args.variants:
                res = {"micro_f1": asyncio.run(served_f1(server.grpc_url, name, texts, y, thr))}
                res |= {str(c): median_round(rounds[name][c]) for c in args.concurrency}
                res[str(top)]["rounds_vs_inprocess_batched"] = [x["vs_inprocess_batched"] for x in rounds[name][top]]
                res["artefact_inprocess_batched"] = median_round(raw_rounds[name])
                res["artefact_inprocess_batched"]["rounds_vs_inprocess_batched"] = [
                    x["vs_inprocess_batched"] for x in raw_rounds[name]
                ]
                result["triton"][name] = res
            result["inprocess"] = {k: median_round(v) for k, v in inproc_rounds.items()}
        finally:
            server.stop()

    # Ratios at the top concurrency from the bracketed numbers (each Triton point divided by the
    # in-process batched throughput measured right before and after it), median over rounds; the
    # per-round values are kept next to them.
    ratios, per_round = {}, {}
    norm = {name: np.asarray(res[str(top)]["rounds_vs_inprocess_batched"]) for name, res in result["triton"].items()}
    for name, rs in norm.items():
        per_round[f"{name}_c{top}_vs_inprocess_batched"] = rs.tolist()
        ratios[f"{name}_c{top}_vs_inprocess_batched"] = float(np.median(rs))
    fp32 = result["triton"].get("tagger_torch_fp32", {})
    if fp32:  # against in-process at the same concurrency (batches of `top`), measured earlier in the round
        rs = [
            a / b
            for a, b in zip(
                fp32[str(top)]["rounds_items_per_s"], result["inprocess"][str(top)]["rounds_items_per_s"], strict=True
            )
        ]
        per_round[f"tagger_torch_fp32_c{top}_vs_inprocess_c{top}"] = rs
        ratios[f"tagger_torch_fp32_c{top}_vs_inprocess_c{top}"] = float(np.median(rs))
    pairs = [
        (q, b) for q in ("tagger_onnx_int8", "tagger_onnx_int8_pc") for b in ("tagger_onnx_fp32", "tagger_torch_fp32")
    ]
    pairs += [("tagger_torch_int8", "tagger_torch_fp32"), ("tagger_onnx_fp32", "tagger_torch_fp32")]
    raw = {
        name: np.asarray(res["artefact_inprocess_batched"]["rounds_vs_inprocess_batched"])
        for name, res in result["triton"].items()
    }
    for name in norm:  # what serving keeps of each artefact's own in-process speed
        rs = norm[name] / raw[name]
        per_round[f"{name}_c{top}_vs_same_artefact_inprocess"] = rs.tolist()
        ratios[f"{name}_c{top}_vs_same_artefact_inprocess"] = float(np.median(rs))
    for q, base in pairs:
        if q in norm and base in norm:
            rs = norm[q] / norm[base]
            per_round[f"{q}_vs_{base}_throughput_c{top}"] = rs.tolist()
            ratios[f"{q}_vs_{base}_throughput_c{top}"] = float(np.median(rs))
            rs = raw[q] / raw[base]  # the models alone, in-process, batches of 32
            per_round[f"{q}_vs_{base}_throughput_inprocess"] = rs.tolist()
            ratios[f"{q}_vs_{base}_throughput_inprocess"] = float(np.median(rs))
            ratios[f"{q}_vs_{base}_micro_f1_points"] = 100 * (
                result["triton"][q]["micro_f1"] - result["triton"][base]["micro_f1"]
            )
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

    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(16, 4.4), dpi=110)
    series = {"in-process torch": result["inprocess"]} | {
        k.replace("tagger_", "triton "): v for k, v in result["triton"].items()
    }
    for label, res in series.items():
        xs = [c for c in concurrency if str(c) in res]
        a1.plot(xs, [res[str(c)]["items_per_s"] for c in xs], "o-", label=label)
        a2.plot(xs, [res[str(c)]["p99_ms"] for c in xs], "o-", label=label)
    a1.axhline(result["inprocess"]["batched"]["items_per_s"], color="grey", ls=":", label="in-process batched (32)")
    a1.set(xscale="log", xlabel="client concurrency", ylabel="items/s", title="throughput")
    a2.set(
        xscale="log",
        yscale="log",
        xlabel="client concurrency",
        ylabel="p99 latency (ms)",
        title="p99 latency per request",
    )
    for a in (a1, a2):
        a.set_xticks(concurrency, [str(c) for c in concurrency])
    a1.legend(fontsize=7)
    top = str(max(concurrency))
    names = [n for n, r in result["triton"].items() if "artefact_inprocess_batched" in r]
    x = np.arange(len(names))
    a3.bar(
        x - 0.2,
        [result["triton"][n]["artefact_inprocess_batched"]["items_per_s"] for n in names],
        0.4,
        label="artefact in-process (batches of 32)",
    )
    a3.bar(
        x + 0.2,
        [result["triton"][n][top]["items_per_s"] for n in names],
        0.4,
        label=f"served by Triton (c={top}, 1 item/request)",
    )
    a3.set_xticks(x, [n.replace("tagger_", "") for n in names], rotation=20, fontsize=8)
    a3.set(ylabel="items/s", title="each exported model: alone vs served")
    a3.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
