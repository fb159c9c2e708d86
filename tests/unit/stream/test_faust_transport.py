"""The worker's transport sets aiokafka's fetch wait through a private attribute (faust hard-codes
1500 ms) and hands records over without faust's per-record tasks when the hand-over does not wait.
These tests fail loudly if an aiokafka or faust upgrade moves what it relies on."""

from __future__ import annotations

import asyncio
import collections.abc
import gc
import inspect
import warnings
from types import SimpleNamespace
from typing import Any

import aiokafka
import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from tagstream.stream.faust_transport import (
    SCHEME,
    Transport,
    _Consumer,
    _ConsumerThread,
    consumer_url,
    first_step_or_race,
)


def test_aiokafka_keeps_fetch_wait_in_the_attribute_we_set():
    assert "self._fetch_max_wait_ms = fetch_max_wait_ms" in inspect.getsource(aiokafka.AIOKafkaConsumer.__init__)
    # start() builds the fetcher from it, after our thread created the consumer
    assert "self._fetch_max_wait_ms" in inspect.getsource(aiokafka.AIOKafkaConsumer.start)


def test_faust_still_builds_its_consumer_in_the_method_we_override():
    assert hasattr(faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer")
    assert issubclass(_ConsumerThread, faust_aiokafka.AIOKafkaConsumerThread)
    assert issubclass(Transport, faust_aiokafka.Transport)


def test_transport_is_registered_under_its_scheme():
    from importlib.metadata import entry_points

    eps = {ep.name: ep.value for ep in entry_points(group="faust.transports")}
    assert eps.get(SCHEME) == "tagstream.stream.faust_transport:Transport"


def test_consumer_url_rewrites_every_broker():
    assert consumer_url("kafka://a:1;kafka://b:2") == f"{SCHEME}://a:1;{SCHEME}://b:2"


def test_faust_keeps_what_the_worker_relies_on():
    """The agent acks by hand (noack_take yields events and acks none), stops without waiting for
    unacked events (stream_wait_empty), and reads committed offsets for the lag gauge."""
    import faust
    from faust.transport.consumer import Consumer

    src = inspect.getsource(faust.Stream.noack_take)
    assert "await self.ack(" not in src.replace("#     await self.ack(event)", "")
    assert "stream_wait_empty" in inspect.getsource(Consumer.on_stop)
    assert "self._committed_offset.update(" in inspect.getsource(Consumer._commit_offsets)


# --- the record hand-over (first_step_or_race) -----------------------------------------------------


def _race() -> tuple[Any, list[tuple[Any, ...]]]:
    """mode's own Service.wait_first, recording each call."""
    import mode

    service = mode.Service()
    calls: list[tuple[Any, ...]] = []

    async def race(*coros: Any) -> Any:
        calls.append(coros)
        return await service.wait_first(*coros)

    return race, calls


async def test_a_hand_over_that_does_not_wait_needs_no_race_and_no_task():
    race, calls = _race()
    delivered: list[int] = []

    async def callback() -> int:
        delivered.append(1)
        return 5

    flow = asyncio.Event()
    tasks_before = len(asyncio.all_tasks())
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        result = await first_step_or_race(race, callback(), flow.wait())
        gc.collect()
    assert not [w for w in warned if "never awaited" in str(w.message)]  # the flow's wait was closed
    assert result.results == [5] and not result.stopped
    assert delivered == [1] and calls == []
    assert len(asyncio.all_tasks()) == tasks_before


async def test_a_hand_over_that_waits_finishes_in_the_race():
    race, calls = _race()
    ready = asyncio.get_running_loop().create_future()

    async def callback() -> str:
        await asyncio.sleep(0)  # a bare yield first
        return await ready

    asyncio.get_running_loop().call_later(0.05, ready.set_result, "delivered")
    result = await first_step_or_race(race, callback(), asyncio.Event().wait())
    assert result.results == ["delivered"] and len(calls) == 1


async def test_a_waiting_hand_over_is_cancelled_when_the_flow_is_suspended_first():
    """The rest of the callback gets the cancellation where it waits, as a task running it would,
    and what it waited on is cancelled too."""
    race, _ = _race()
    full = asyncio.Queue(maxsize=1)
    full.put_nowait("x")
    seen: list[str] = []

    async def callback() -> None:
        try:
            await full.put("y")  # the stream buffer is full
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    suspend = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, suspend.set)
    result = await first_step_or_race(race, callback(), suspend.wait())
    assert result.results == [True]  # the flow's wait won
    await asyncio.sleep(0.01)
    assert seen == ["cancelled"]
    assert full.qsize() == 1 and not full._putters  # type: ignore[attr-defined]  # nothing left waiting


async def test_a_callback_that_catches_the_cancellation_and_waits_again_is_driven_to_its_end():
    race, _ = _race()
    steps: list[str] = []
    again = asyncio.get_running_loop().create_future()

    async def callback() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            steps.append("cancelled")
            await again  # cleans up before it goes
            steps.append("cleaned up")
            raise

    suspend = asyncio.Event()
    asyncio.get_running_loop().call_later(0.02, suspend.set)
    await first_step_or_race(race, callback(), suspend.wait())
    await asyncio.sleep(0.01)
    assert steps == ["cancelled"]
    again.set_result(None)
    await asyncio.sleep(0.01)
    assert steps == ["cancelled", "cleaned up"]


class _StepCoroutine(collections.abc.Coroutine):  # type: ignore[type-arg]
    """A coroutine that is not a native one (as faust's Cython conductor makes): it waits on a future
    once, then returns its result."""

    def __init__(self, fut: asyncio.Future[str]):
        self.fut = fut
        self.waited = False

    def send(self, value: object) -> asyncio.Future[str]:
        if not self.waited:
            self.waited = True
            self.fut._asyncio_future_blocking = True  # what awaiting a future does
            return self.fut
        raise StopIteration(self.fut.result())

    def throw(self, *exc: Any) -> Any:
        raise exc[0] if len(exc) == 1 else exc[1]

    def close(self) -> None:
        pass

    def __await__(self) -> Any:
        raise NotImplementedError  # never awaited here: only stepped


async def test_a_waiting_hand_over_that_is_not_a_native_coroutine_is_driven_by_send():
    race, calls = _race()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.02, ready.set_result, "delivered")
    result = await first_step_or_race(race, _StepCoroutine(ready), asyncio.Event().wait())
    assert result.results == ["delivered"] and len(calls) == 1


async def test_a_failing_hand_over_raises_and_closes_the_flow_wait():
    race, calls = _race()

    async def callback() -> None:
        raise ValueError("cannot decode")

    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="cannot decode"):
            await first_step_or_race(race, callback(), asyncio.Event().wait())
        gc.collect()
    assert not [w for w in warned if "never awaited" in str(w.message)]
    assert calls == []


def test_faust_hands_records_over_through_the_call_we_shortcut():
    """If a faust upgrade hands records over differently, `_Consumer.wait_first` no longer sees the
    call and the fetch loop silently pays for four tasks per record again: fail here instead."""
    from faust.transport.consumer import Consumer

    src = " ".join(inspect.getsource(Consumer._drain_messages).split())
    assert "await self.wait_first( callback(message), self.suspend_flow.wait() )" in src
    assert _Consumer.wait_first is not Consumer.wait_first
    assert Transport.Consumer is _Consumer


# --- records fetched and not handed over; acks from before a rebalance -------------------------
# A real Faust app and the worker's consumer, not started: only the aiokafka calls (fetch, seek,
# assignment) are stand-ins, so Faust's own seek and ack bookkeeping run as in the worker.

P0, P1 = TP("in", 0), TP("in", 1)


def _record(tp: TP, offset: int) -> SimpleNamespace:
    return SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=offset)


def _consumer(fetches: list[dict[TP, list[SimpleNamespace]]]) -> tuple[_Consumer, list[int], list[tuple[TP, int]]]:
    """The worker's consumer with aiokafka replaced: each fetch returns the next of `fetches`; it
    hands records to a callback that keeps their offsets, and records its seeks."""
    from tagstream.stream.faust_app import faust_app
    from tagstream.stream.settings import WorkerSettings

    app = faust_app(WorkerSettings(), "transport-test", web_enabled=False)
    handed: list[int] = []
    seeks: list[tuple[TP, int]] = []

    async def hand_over(message: Any) -> None:
        handed.append(message.offset)

    async def nothing(*args: Any) -> None:
        return None

    consumer = app.transport.create_consumer(
        callback=hand_over, on_partitions_revoked=nothing, on_partitions_assigned=nothing
    )
    assert isinstance(consumer, _Consumer)
    consumer.assignment = lambda: {P0}  # type: ignore[method-assign]
    consumer._set_active_tps({P0, P1})  # what Faust does on assignment (P1: revoked since)

    async def getmany(active_partitions: Any, timeout: float) -> dict[TP, list[SimpleNamespace]]:
        return fetches.pop(0) if fetches else {}

    async def seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    consumer._getmany = getmany  # type: ignore[method-assign]
    consumer._seek = seek  # type: ignore[method-assign]
    return consumer, handed, seeks


def _message(tp: TP, offset: int, generation: int) -> Any:
    from faust.types import ConsumerMessage

    return ConsumerMessage(
        tp.topic, tp.partition, offset, 0.0, 0, None, b"k", b"v", None, 1, 1, tp, generation_id=generation
    )


async def test_records_fetched_and_not_handed_over_are_fetched_again_before_the_next_fetch():
    consumer, handed, seeks = _consumer([{P0: [_record(P0, o) for o in range(284, 325)]}])
    records, _ = await consumer._wait_next_records(0.0)
    for record in records[P0][:2]:  # the flow stopped after two records: the rest was dropped
        await consumer.callback(_message(P0, record.offset, 0))
    assert handed == [284, 285]

    await consumer._wait_next_records(0.0)  # the next fetch starts where the dropped records were
    assert seeks == [(P0, 286)]
    assert consumer._read_offset[P0] == 286  # Faust's own seek: it reads them again, no gap


async def test_a_fetch_handed_over_entirely_or_for_an_unassigned_partition_seeks_nowhere():
    consumer, _, seeks = _consumer([{P0: [_record(P0, 5), _record(P0, 9)], P1: [_record(P1, 1)]}])
    records, _ = await consumer._wait_next_records(0.0)
    for record in records[P0]:
        await consumer.callback(_message(P0, record.offset, 0))
    await consumer._wait_next_records(0.0)  # P1 was revoked meanwhile: nothing to read again
    assert seeks == []
    assert consumer._dropped.rewinds() == {}


async def test_a_new_assignment_forgets_the_records_fetched_before_it():
    consumer, _, seeks = _consumer([{P0: [_record(P0, 1), _record(P0, 2)]}])
    await consumer._wait_next_records(0.0)
    await consumer.on_partitions_revoked({P0})  # Faust seeks to the committed offsets itself
    await consumer._wait_next_records(0.0)
    assert seeks == []


def test_events_fetched_before_the_latest_rebalance_or_acked_during_one_are_not_acked():
    consumer, _, _ = _consumer([])
    app = consumer.app
    app.topics.acks_enabled_for = lambda topic: True  # type: ignore[method-assign]
    app.consumer_generation_id = 3
    app.flow_control.resume()

    assert consumer.ack(_message(P0, 10, generation=3)) is True
    assert consumer.ack(_message(P0, 11, generation=2)) is False  # skipped by the stream, never tagged
    app.flow_control.suspend()  # a rebalance holds the flow
    assert consumer.ack(_message(P0, 12, generation=3)) is False
    assert list(consumer._acked[P0]) == [10]
