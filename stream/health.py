"""What the worker is doing, for /healthz, /readyz and the lag gauge.

Liveness (`/healthz`) answers while the process serves requests. Readiness (`/readyz`) is true only
while the agent consumes, no batch is stalled on a dependency, the worker is not stopping, and
Triton answers.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class WorkerState:
    consuming: bool = False  # the agent is running its loop
    stalled: bool = False  # a batch waits for a dependency (Triton) to come back
    stopping: bool = False
    last_batch_at: float = field(default_factory=time.monotonic)
    idle: asyncio.Event = field(default_factory=asyncio.Event)  # set when no batch is in flight

    def __post_init__(self) -> None:
        self.idle.set()

    def liveness(self) -> dict[str, object]:
        return {
            "status": "stopping" if self.stopping else "ok",
            "seconds_since_last_batch": round(time.monotonic() - self.last_batch_at, 1),
        }

    def readiness(self, *, triton: bool, redis: bool, assigned_partitions: int) -> tuple[bool, dict[str, object]]:
        ready = self.consuming and not self.stalled and not self.stopping and triton
        body: dict[str, object] = {
            "ready": ready,
            "consuming": self.consuming,
            "stalled": self.stalled,
            "stopping": self.stopping,
            "triton": triton,
            "redis": redis,
            "assigned_partitions": assigned_partitions,
        }
        return ready, body
