"""The worker's stop leaves nothing of its own running: mode, which runs the Faust worker, waits up to a
second for leftover tasks before it cancels them, and the stop watchdog would still be armed.

The agent runs here on a stand-in for Faust's stream (its `noack_take` and `ack`) and the batch
processor is a stand-in that never finishes: no broker, cache or model is involved in what is tested.
"""

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

from tagstream.stream.app import TaggerWorker
from tagstream.stream.runtime import Runtime
from tagstream.stream.settings import WorkerSettings


class _Stream:
    """Yields the given batches, then waits like a stream with nothing more to take."""

    def __init__(self, batches: list[list[SimpleNamespace]]):
        self.batches = batches
        self.acked: list[SimpleNamespace] = []

    async def noack_take(self, n: int, within: float) -> AsyncIterator[list[SimpleNamespace]]:
        for batch in self.batches:
            yield batch
        await asyncio.Event().wait()

    async def ack(self, event: SimpleNamespace) -> None:
        self.acked.append(event)


def _event(offset: int) -> SimpleNamespace:
    return SimpleNamespace(
        message=SimpleNamespace(topic="in", partition=0, offset=offset, key=b"p", value=b"{}", timestamp=1.0)
    )


class _Stuck:
    """A processor whose batches never finish (Triton hanging), and clients that close."""

    def __init__(self) -> None:
        self.started = 0
        self.closed = False

    async def process(self, records: object) -> None:
        self.started += 1
        await asyncio.Event().wait()

    async def close(self) -> None:
        self.closed = True


async def _stop(worker: TaggerWorker, agent: asyncio.Task[None]) -> None:
    """What the app's stop does: drain, Faust stops the agent, then close."""
    await worker.drain()
    agent.cancel()
    await asyncio.wait([agent])
    await worker.close()


def _ours() -> set[asyncio.Task[object]]:
    return asyncio.all_tasks() - {asyncio.current_task()}


async def test_an_idle_worker_stops_with_no_task_left_and_the_watchdog_disarmed():
    worker = TaggerWorker(WorkerSettings())
    agent = asyncio.create_task(worker._agent(_Stream([])))
    await asyncio.sleep(0.05)
    assert worker._finisher is not None and not worker._finisher.done()

    await _stop(worker, agent)

    assert not _ours(), _ours()
    assert worker._watchdog is not None
    worker._watchdog.join(5)  # a cancelled timer's thread ends at once; an armed one would wait 20 s and more
    assert not worker._watchdog.is_alive()


async def test_batches_abandoned_at_the_grace_deadline_are_cancelled_not_acked():
    worker = TaggerWorker(WorkerSettings(shutdown_grace_s=0.2, batches_in_flight=2))
    stuck = _Stuck()
    worker.runtime = Runtime(inference=stuck, cache=stuck, processor=stuck, publisher=stuck)  # type: ignore[arg-type]
    stream = _Stream([[_event(0), _event(1)], [_event(2)]])
    agent = asyncio.create_task(worker._agent(stream))
    while stuck.started < 2:  # one batch in the finisher's hands, one queued behind it
        await asyncio.sleep(0.01)

    await _stop(worker, agent)

    assert not _ours(), _ours()
    assert stream.acked == [] and stuck.closed
