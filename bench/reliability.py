"""Run the fault-injection suite (tests/reliability) and keep each scenario's counts.

    python bench/reliability.py            # runs the suite, writes bench/results/reliability.json
    python bench/reliability.py --table    # prints docs/reliability.md's table from that file

The same scenarios run in CI (`make test`); this only keeps their numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "reliability.json"
NAMES = {
    "sigkill": "worker SIGKILLed 5 times over 5,000 events",
    "triton_and_redis_outages": "Triton killed for 10 s, then Redis killed, mid-stream",
    "malformed_input": "malformed and unusual events mixed into the batches",
    "model_swap_and_broken_version": "model version swapped, then a broken version published, mid-stream",
    "sigterm": "SIGTERM mid-stream, and while Triton is down",
    "churn": "workers killed and joining, 5 rebalances mid-stream",
    "idle_partitions": "events piling up while Triton is down: lag and idle gauges",
}


def table(results: dict) -> str:
    rows = [
        "| scenario | sent | tagged | superseded | tombstones | dead letters | lost | duplicated |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, name in NAMES.items():
        r = results.get(key)
        if r:
            rows.append(
                f"| {name} | {r['sent']:,} | {r['tagged']:,} | {r['superseded']:,} | {r['tombstones']:,} | "
                f"{r['dead_lettered']:,} | **{r['lost']}** | {r['duplicated']:,} |"
            )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", action="store_true", help="print the table from the last run only")
    args = ap.parse_args()
    if not args.table:
        env = dict(os.environ, TAGSTREAM_RELIABILITY_REPORT=str(RESULTS))
        rc = subprocess.call(
            [sys.executable, "-m", "pytest", "tests/reliability", "-q", "-p", "no:cacheprovider"], env=env
        )
        if rc:
            sys.exit(rc)
    print(table(json.loads(RESULTS.read_text())))


if __name__ == "__main__":
    main()
