"""The lag and idle-partition gauges: pure bookkeeping over what the consumer reports (its assignment,
high watermarks, committed offsets and the broker's end offsets), with a clock the test moves."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from faust.types import TP
from prometheus_client import CollectorRegistry, Gauge

from tagstream.stream.lag import ConsumerLag
from tagstream.stream.records import Record

P0, P1 = TP("in", 0), TP("in", 1)


class Consumer:
    """What ConsumerLag reads of faust's consumer."""

    def __init__(self, assigned: set[TP]):
        self.assigned = assigned
        self.fetched_highwater: dict[TP, int] = {}
        self.broker_end: dict[TP, int] = {}
        self._committed_offset: dict[TP, int | None] = {}
        self.broker_down = False

    def assignment(self) -> set[TP]:
        return self.assigned

    def highwater(self, tp: TP) -> int:
        if tp not in self.fetched_highwater:
            raise KeyError(tp)  # aiokafka: not fetched yet
        return self.fetched_highwater[tp]

    async def highwaters(self, *tps: TP) -> Mapping[TP, int]:
        if self.broker_down:
            raise ConnectionError("broker away")
        return {tp: self.broker_end[tp] for tp in tps if tp in self.broker_end}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def gauges() -> tuple[Gauge, Gauge]:
    r = CollectorRegistry()
    return Gauge("lag", "", ["topic", "partition"], registry=r), Gauge("idle", "", ["topic", "partition"], registry=r)


def value(gauge: Gauge, tp: TP) -> float | None:
    key = (tp.topic, str(tp.partition))
    return gauge._metrics[key]._value.get() if key in gauge._metrics else None


def records(tp: TP, *offsets: int) -> list[Record]:
    return [Record(tp.topic, tp.partition, o, b"k", b"v", 0.0) for o in offsets]


async def test_the_broker_end_offset_counts_events_the_consumer_has_not_fetched(gauges):
    lag, idle = gauges
    consumer = Consumer({P0})
    consumer.fetched_highwater[P0] = 300  # the consumer stopped fetching here (full buffer)
    consumer.broker_end[P0] = 5000
    tracker = ConsumerLag(lag, idle, Clock())
    tracker.refresh(consumer)
    assert value(lag, P0) == 300  # before any poll: what the fetches know
    await tracker.poll(consumer)
    assert value(lag, P0) == 5000
    tracker.finished(records(P0, *range(32)))
    tracker.refresh(consumer)
    assert value(lag, P0) == 5000 - 32


async def test_without_a_fetch_or_a_poll_nothing_is_reported_and_a_broker_error_is_no_crash(gauges):
    lag, idle = gauges
    consumer = Consumer({P0})
    consumer.broker_down = True
    tracker = ConsumerLag(lag, idle, Clock())
    await tracker.poll(consumer)
    assert value(lag, P0) is None and value(idle, P0) is None
    consumer.fetched_highwater[P0] = 10
    consumer._committed_offset[P0] = 4
    await tracker.poll(consumer)  # the broker still away: the fetch's high watermark
    assert value(lag, P0) == 6


async def test_a_partition_idles_only_while_events_wait_and_none_are_processed(gauges):
    lag, idle = gauges
    clock = Clock()
    consumer = Consumer({P0, P1})
    consumer.broker_end.update({P0: 100, P1: 100})
    tracker = ConsumerLag(lag, idle, clock)
    await tracker.poll(consumer)
    assert value(idle, P0) == 0 and value(idle, P1) == 0  # just assigned

    clock.now += 30
    tracker.finished(records(P1, *range(50)))  # P1 moves, P0 does not
    await tracker.poll(consumer)
    assert value(idle, P0) == 30 and value(idle, P1) == 0

    clock.now += 30
    consumer._committed_offset[P1] = 50  # committed, nothing new finished: no move
    await tracker.poll(consumer)
    assert value(idle, P0) == 60 and value(idle, P1) == 30

    clock.now += 10
    tracker.finished(records(P0, *range(100)))  # P0 caught up: idle 0 however long it waited
    await tracker.poll(consumer)
    assert value(idle, P0) == 0 and value(lag, P0) == 0
    clock.now += 500
    await tracker.poll(consumer)
    assert value(idle, P0) == 0  # nothing waiting is not idle

    consumer.broker_end[P0] = 101  # a new event: the wait counts from when it was last seen caught up
    clock.now += 5
    await tracker.poll(consumer)
    assert value(idle, P0) == 5
    clock.now += 5
    await tracker.poll(consumer)
    assert value(idle, P0) == 10


async def test_revoked_partitions_leave_both_gauges(gauges):
    lag, idle = gauges
    consumer = Consumer({P0, P1})
    consumer.broker_end.update({P0: 10, P1: 10})
    tracker = ConsumerLag(lag, idle, Clock())
    await tracker.poll(consumer)
    consumer.assigned = {P0}
    tracker.refresh(consumer)
    assert value(lag, P1) is None and value(idle, P1) is None
    assert value(lag, P0) == 10
    consumer.assigned = {P0, P1}  # back, with the broker's end offset forgotten until the next poll
    tracker.refresh(consumer)
    assert value(lag, P1) is None


async def test_finished_records_move_each_partition_to_its_highest_offset_plus_one(gauges):
    lag, idle = gauges
    consumer = Consumer({P0, P1})
    consumer.fetched_highwater.update({P0: 20, P1: 20})
    tracker = ConsumerLag(lag, idle, Clock())
    tracker.finished([*records(P0, 7, 9, 8), *records(P1, 2)])
    tracker.finished(records(P0, 4))  # an older record later does not move the partition back
    tracker.refresh(consumer)
    assert value(lag, P0) == 20 - 10 and value(lag, P1) == 20 - 3
