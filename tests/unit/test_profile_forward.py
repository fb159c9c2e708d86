"""bench/profile_forward.py's summary of py-spy's folded output (the script itself needs py-spy and
a broker; its summary is pure)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "profile_forward.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("profile_forward", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAIN = "thread (11): MainThread;main (x.py:1);Worker.execute_from_commandline (mode/worker.py:264)"
FOLDED = "\n".join(
    [
        f"{MAIN};Fetcher._fetcher (faust/transport/consumer.py:177);on_message (c.py:3) 5",
        f"{MAIN};Agent._execute_actor (faust/agents/agent.py:698);Producer.send (faust/x.py:1) 3",
        "thread (12): Thread-1;ServiceThread._start_thread (mode/threads.py:211) 2",
        "a line py-spy would not write",
        "",
        f"{MAIN} not-a-count",
    ]
)


def test_samples_are_split_by_thread_and_by_faust_part() -> None:
    got = _script().summarize(FOLDED)
    assert got["samples"] == 10
    assert got["threads_pct"] == {"MainThread": 80.0, "Thread-1": 20.0}
    parts = got["parts_pct"]
    assert parts["fetch loop (records to the streams)"] == 50.0
    assert parts["agent (take, send, ack)"] == 30.0
    assert parts["producer send"] == 30.0  # inclusive: inside the agent's share
    assert "sensors (Monitor)" not in parts
    assert got["top_own_pct"]["on_message (c.py:3)"] == 50.0


def test_an_empty_profile_has_no_samples() -> None:
    got = _script().summarize("")
    assert got == {"samples": 0, "threads_pct": {}, "parts_pct": {}, "top_own_pct": {}}
