"""The full stream benchmark: tagstream end to end against the model in-process, Triton alone, naive
serving, the cache-hit path and the stream engine's passthrough, on the embedded stack, with real
titles from the shared data's test splits (bench/engine.py says what each point is).

    python -m bench.stream_bench --model runs/sample --data ../shared/data
        [--events 3000] [--rounds 3] [--fast-factor 5]
        [--texts CATALOGUE.jsonl] [--budgets 64,128,256] [--also LABEL=DIR ...] [--no-variants]

Writes bench/results/stream_bench.json and bench/results/stream_bench.png and prints the table.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from bench.engine import BenchConfig, parse_budgets, parse_others, plot, run_bench, table
from tagstream.trainer.data import load_dataset

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, required=True, help="artefact directory from `tagstream train`")
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fast-factor", type=int, default=5, help="d, p and raw drain backlogs this many times longer")
    ap.add_argument("--latency-seconds", type=float, default=20.0)
    ap.add_argument(
        "--texts", type=Path, help="send this catalogue's texts (JSON lines) instead of --data's test splits"
    )
    ap.add_argument(
        "--budgets",
        default="",
        help="comma-separated token budgets whose cost b measures side by side (b_len<N>), e.g. 64,128,256",
    )
    ap.add_argument("--no-variants", action="store_true", help="skip the variants of b's settings")
    ap.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="another model directory served side by side (point b_LABEL); repeatable",
    )
    ap.add_argument("--workdir", type=Path, default=Path(".tagstream/stream-bench"))
    ap.add_argument("--out", type=Path, default=RESULTS / "stream_bench.json")
    args = ap.parse_args()
    if args.fast_factor < 1:
        ap.error("--fast-factor must be at least 1")
    try:
        budgets, others = parse_budgets(args.budgets), parse_others(args.also)
    except ValueError as e:
        ap.error(str(e))
    texts = []
    for path in [args.texts] if args.texts else [args.data / f"{n}.test.jsonl" for n in ("flipkart", "myntra")]:
        texts += load_dataset(path).texts
    random.Random(0).shuffle(texts)
    config = BenchConfig(
        events=args.events,
        rounds=args.rounds,
        latency_seconds=args.latency_seconds,
        fast_factor=args.fast_factor,
        budgets=budgets,
        others=others,
        **({"variants": {}} if args.no_variants else {}),
    )
    result = run_bench(args.model, texts, args.workdir, config)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    plot(result, args.out.with_suffix(".png"))
    print(table(result))


if __name__ == "__main__":
    main()
