"""faust's aiokafka transport with a configurable fetch wait and a cheaper hand-over of records.

- **Fetch wait.** faust-streaming creates its consumer with `fetch_max_wait_ms=1500`. A broker holds an
  empty fetch for up to that long; Apache Kafka answers as soon as data arrives, but the embedded
  broker (Tansu) was measured to hold it for ~450 ms even when a message arrived meanwhile (~5 ms
  with 100 ms). Here the wait is taken from the app (`app.fetch_max_wait_ms`, set by the worker from
  TAGSTREAM_FETCH_MAX_WAIT_MS, declared there once; an app without it keeps faust's own wait).
- **Hand-over.** faust's fetch loop hands every record to the streams with
  `await self.wait_first(callback(message), self.suspend_flow.wait())`: four tasks and an
  `asyncio.wait` per record, so that a hand-over that has to wait (flow control during a rebalance,
  a full stream buffer, a full producer buffer) is abandoned when the flow is suspended or the
  consumer stops. Almost no hand-over waits. `_Consumer.wait_first` takes the callback's first step
  in place: when it finishes there, that is the result, as when the callback wins the race; when it
  has to wait, the rest of it races the others exactly as before (`first_step_or_race`).

- **Dropped records.** Records Faust fetched and never handed to the streams (its flow stopped in the
  middle of a fetch) are read again: before each fetch the consumer seeks back to them
  (`dropped_records`), instead of jumping over them and committing past them.
- **Acks from before a rebalance.** An event fetched in an earlier generation of the group, or acked
  while a rebalance holds the flow, is not acked: Faust acks the stale events it skips (never tagged)
  and has dropped the partition's committed offset by then, so such an ack could commit past events
  nobody tagged. Every kept partition is read again from its committed offset after a rebalance, so
  an event refused here is tagged again, never lost.

Registered under the `tagstream-kafka` scheme (entry point `faust.transports`); the producer keeps
faust's own `kafka://` transport.
"""

from __future__ import annotations

import asyncio
import logging
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from mode.services import WaitResults
from mode.utils.times import Seconds

from tagstream.stream.dropped_records import DroppedRecords

SCHEME = "tagstream-kafka"

logger = logging.getLogger(__name__)

Race = Callable[..., Awaitable[WaitResults]]


@types.coroutine
def _resumed(coro: Coroutine[Any, Any, Any], waiting_on: Any) -> Generator[Any, None, Any]:
    """The rest of `coro`, whose first step was taken by hand and yielded `waiting_on`: the task
    running this sees every yield of `coro` and throws its cancellation into `coro`, as a task that
    had run `coro` from its start would (any coroutine with send/throw: native or Cython)."""
    while True:
        try:
            yield waiting_on
        except GeneratorExit:  # this wrapper is closed unfinished: close coro with it
            coro.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - cancellation (or anything the task throws) belongs to coro
            thrown: BaseException | None = exc
        else:
            thrown = None
        try:
            waiting_on = coro.send(None) if thrown is None else coro.throw(thrown)
        except StopIteration as done:
            return done.value


async def _rest_of(coro: Coroutine[Any, Any, Any], waiting_on: Any) -> Any:
    return await _resumed(coro, waiting_on)


async def first_step_or_race(race: Race, first: Coroutine[Any, Any, Any], *others: Any) -> WaitResults:
    """`race(first, *others)` (mode's `Service.wait_first`), without its tasks when `first` finishes
    in its first step: then `first` is the winner and the others are closed unstarted. Otherwise the
    rest of `first` races the others."""
    try:
        waiting_on = first.send(None)
    except BaseException as ended:  # finished (StopIteration) or failed in its first step
        for other in others:
            if asyncio.iscoroutine(other):
                other.close()
        if isinstance(ended, StopIteration):
            return WaitResults([first], [ended.value], False)
        raise
    return await race(_rest_of(first, waiting_on), *others)


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        wait_ms = getattr(self.consumer.app, "fetch_max_wait_ms", None)
        if wait_ms is not None:  # read by AIOKafkaConsumer.start() when it builds its fetcher
            consumer._fetch_max_wait_ms = int(wait_ms)
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._dropped = DroppedRecords()
        hand_over = self.callback

        async def handed_over(message: Message) -> None:
            await hand_over(message)
            self._dropped.handed_over(message.tp, message.offset)

        self.callback = handed_over

    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def ack(self, message: Message) -> bool:
        """Faust's ack, except for an event fetched before the group's latest rebalance or acked while
        a rebalance holds the flow (see the module docstring)."""
        if message.generation_id != self.app.consumer_generation_id or not self.app.flow_control.is_active():
            return False
        return bool(super().ack(message))

    async def _wait_next_records(self, timeout: float) -> tuple[Any, set[TP] | None]:
        if self.flow_active:
            await self._seek_back_to_dropped()
        records, active = await super()._wait_next_records(timeout)
        for tp, fetched in (records or {}).items():
            if fetched:
                self._dropped.fetched(tp, fetched[0].offset, fetched[-1].offset)
        return records, active

    async def _seek_back_to_dropped(self) -> None:
        assigned = self.assignment()
        for tp, offset in self._dropped.rewinds().items():
            if tp in assigned:
                logger.warning(
                    "seeking %s[%d] back to offset %d: fetched records were not handed over",
                    tp.topic,
                    tp.partition,
                    offset,
                )
                await self.seek(tp, offset)
            else:
                self._dropped.position_set(tp)

    async def seek(self, partition: TP, offset: int) -> None:
        await super().seek(partition, offset)
        self._dropped.position_set(partition)

    async def perform_seek(self) -> None:
        await super().perform_seek()
        self._dropped.position_set()

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self._dropped.position_set()
        await super().on_partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        self._dropped.position_set()
        await super().on_partitions_assigned(assigned, generation_id)

    async def wait_first(self, *coros: Any, timeout: Seconds | None = None) -> WaitResults:
        """The fetch loop's per-record call (a callback coroutine and the flow's wait, no timeout,
        the consumer running) through `first_step_or_race`; any other call as faust makes it."""
        if (
            len(coros) == 2
            and timeout is None
            and asyncio.iscoroutine(coros[0])
            and not self._stopped.is_set()
            and not self._crashed.is_set()
        ):
            return await first_step_or_race(super().wait_first, *coros)
        if timeout is None:  # mode types the timeout as Seconds with a None default
            return await super().wait_first(*coros)
        return await super().wait_first(*coros, timeout=timeout)


class Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


def consumer_url(broker_url: str) -> str:
    """kafka://h:p[;kafka://h2:p] -> tagstream-kafka://h:p[;...] (the producer keeps kafka://)."""
    return broker_url.replace("kafka://", f"{SCHEME}://")
