"""Where the stream engine's own cost goes: the forward-only Faust app (point p of the stream
benchmark) profiled with py-spy while it drains a long backlog, next to the plain aiokafka loop
(point raw) on the same broker. Needs no model, Triton or Redis: only the embedded broker.

    python -m bench.profile_forward [--events 150000] [--seconds 6] [--delay 7]

Prints, and writes to bench/results/profile_forward.json (and .png): each loop's events/s and CPU
per event, the forward app's samples per thread (Faust runs aiokafka's consumer in a thread of its
own) and the CPU per event that its main thread alone uses, next to the whole aiokafka loop's.
py-spy must be installed (`pip install py-spy`, in the `bench` extra) and allowed to attach (ptrace).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
# Faust's parts of the forward app's main thread, by the frame that starts each (inclusive shares)
PARTS = {
    "fetch loop (records to the streams)": "Fetcher._fetcher",
    "agent (take, send, ack)": "Agent._execute_actor",
    "stream buffering": "Stream._passive_drainer",
    "conductor (decode, event, queue)": "Conductor._compile_message_handler",
    "sensors (Monitor)": "SensorDelegate.",
    "producer send": "Producer.send (faust",
    "race of a hand-over that waits": "Service.wait_first",
}


def summarize(folded: str) -> dict[str, Any]:
    """py-spy's raw (folded) output with --threads: samples per thread, Faust's parts, top frames."""
    total, threads, parts, own = 0, collections.Counter[str](), collections.Counter[str](), collections.Counter[str]()
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        threads[frames[0].rpartition(":")[2].strip()] += n
        own[frames[-1]] += n
        for part, marker in PARTS.items():
            if any(marker in f for f in frames):
                parts[part] += n

    def share(c: collections.Counter[str], top: int | None = None) -> dict[str, float]:
        return {k: round(100 * v / max(total, 1), 1) for k, v in c.most_common(top)}

    return {"samples": total, "threads_pct": share(threads), "parts_pct": share(parts), "top_own_pct": share(own, 12)}


def _spy(pyspy: str, cmdline_part: str, out: Path, delay: float, seconds: int, window: list[float]) -> None:
    """Sample the process that has the argument `cmdline_part`, from `delay` s after it appears, for
    `seconds`; `window` gets the samples' start and end (Unix seconds), and stays empty when the
    process does not appear within the forward app's start timeout."""
    import psutil

    from bench.engine import _ForwardApp
    from tagstream.localstack.errors import StackError
    from tagstream.localstack.wait import wait_until

    found: list[int] = []

    def appeared() -> bool:
        found.extend(p.pid for p in psutil.process_iter(["cmdline"]) if cmdline_part in (p.info["cmdline"] or []))
        return bool(found)

    try:
        wait_until(appeared, _ForwardApp.start_timeout, what="the forward app", interval=0.05)
    except StackError:
        return
    time.sleep(delay)
    rec = [pyspy, "record", "-p", str(found[0]), "-d", str(seconds), "-r", "250", "--threads", "-f", "raw"]
    window.append(time.time())
    subprocess.run([*rec, "-o", str(out)], capture_output=True, check=False)
    window.append(time.time())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=150_000, help="backlog drained by each loop")
    ap.add_argument("--seconds", type=int, default=6, help="how long py-spy samples the forward app")
    ap.add_argument("--delay", type=float, default=7.0, help="seconds after the forward app starts before py-spy")
    ap.add_argument("--out", type=Path, default=RESULTS / "profile_forward.json")
    args = ap.parse_args()
    if args.events < 1 or args.seconds < 1 or args.delay < 0:
        ap.error("--events and --seconds must be at least 1, --delay not negative")
    # the environment's own py-spy first (the script may run as .venv/bin/python, not activated)
    pyspy = shutil.which("py-spy", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if pyspy is None:
        sys.exit("error: py-spy is not installed (pip install py-spy)")

    from bench.engine import Bench
    from tagstream.localstack.stack import LocalStack

    texts = [f"product {i}: a title of a usual length for a listing" for i in range(3000)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        stack = LocalStack(work, work / "repo")
        stack.broker.start()  # the forward loops need nothing else
        try:
            bench = Bench(stack, work / "repo", texts)
            folded = work / "forward.txt"
            window: list[float] = []
            spy = threading.Thread(  # a daemon: it must not keep the script alive if the forward app never starts
                target=_spy,
                args=(pyspy, "bench.forward_app", folded, args.delay, args.seconds, window),
                daemon=True,
            )
            spy.start()
            p = bench.forward_faust("p", n=args.events)
            spy.join()
            raw = bench.forward_raw("raw", n=args.events)
            profile = summarize(folded.read_text() if folded.exists() else "")
        finally:
            stack.broker.stop()
    if len(window) < 2:
        sys.exit("error: py-spy found no forward app to sample")
    # every sample must be of the drain: not of Faust's start, not of an idle app after it
    if window[0] < p.first_at:
        sys.exit(f"error: py-spy started {p.first_at - window[0]:.1f} s before the drain did: raise --delay")
    if window[1] > p.last_at + 1.0:  # py-spy's own start and stop take a moment
        sys.exit(f"error: the backlog drained {window[1] - p.last_at:.1f} s before py-spy stopped: raise --events")
    if not profile["samples"]:
        sys.exit("error: py-spy recorded nothing (is ptrace allowed?)")
    p_ms, raw_ms = p.cpu_ms_per_event["forward"], raw.cpu_ms_per_event["raw loop"]
    main_ms = p_ms * profile["threads_pct"].get("MainThread", 0.0) / 100
    result = {
        "events": args.events,
        "profile_window_s": [round(window[0] - p.first_at, 1), round(window[1] - p.first_at, 1)],
        "drain_s": round(p.last_at - p.first_at, 1),
        "p_events_per_s": round(p.events_per_s),
        "raw_events_per_s": round(raw.events_per_s),
        "p_over_raw": round(p.events_per_s / raw.events_per_s, 2),
        "cpu_ms_per_event": {
            "p: forward app": p_ms,
            "p: its main thread": round(main_ms, 3),
            "p: its consumer thread": round(p_ms - main_ms, 3),
            "raw: loop": raw_ms,
        },
        "main_thread_over_raw_loop": round(main_ms / raw_ms, 2),
        "profile": profile,
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    _plot(result, args.out.with_suffix(".png"))


def _plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cpu = result["cpu_ms_per_event"]
    fig, ax = plt.subplots(figsize=(7, 2.6))
    ax.barh(["raw: aiokafka loop"], [cpu["raw: loop"]], color="tab:green")
    ax.barh(["p: Faust forward app"], [cpu["p: its main thread"]], color="tab:blue", label="main thread")
    ax.barh(
        ["p: Faust forward app"],
        [cpu["p: its consumer thread"]],
        left=[cpu["p: its main thread"]],
        color="tab:orange",
        label="consumer thread",
    )
    ax.set_xlabel("CPU per event forwarded (ms)")
    ax.set_title(f"Stream engine's own cost ({result['events']:,}-event backlog; p/raw {result['p_over_raw']})")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
