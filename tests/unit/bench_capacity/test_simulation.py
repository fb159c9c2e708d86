"""The discrete-event simulation: drain times that follow from the costs, Little's law for the
batches in flight, latency at low load, overload, conservation of events, and why a backfill needs
--rate."""

import pytest

from bench.capacity.plan import Batching, CostModel, Deployment
from bench.capacity.simulation import Traffic, simulate

BATCH = Batching(batch_max=32, batch_wait_s=0.2, request_items=32, batches_in_flight=2, triton_merge_items=32)


def cost(worker_ms=0.001, triton_ms=1.0, cached_ms=0.001):
    return CostModel(worker_ms_model=worker_ms, worker_ms_cached=cached_ms, triton_ms_per_item=triton_ms)


def backlog(n, seconds=60.0):
    """n events there at once (a backfill sent faster than anything drains it)."""
    return Traffic(live_per_s=0, duration_s=seconds, backfill_events=n, backfill_rate=1e7)


def test_a_backlog_drains_at_tritons_rate_when_triton_is_the_bottleneck():
    r = simulate(
        cost(triton_ms=1.0), Deployment(partitions=4, workers=1, triton_instances=1, batching=BATCH), backlog(3200)
    )
    assert r.backfill_done == 3200
    assert 3.2 <= r.backfill_finished_s <= 3.2 * 1.05  # 3,200 items x 1 ms on one instance
    assert r.triton_utilisation == pytest.approx(3.2 / 60, rel=0.01)


def test_a_backlog_drains_at_the_workers_rate_when_its_cpu_is_the_bottleneck():
    r = simulate(
        cost(worker_ms=1.0, triton_ms=0.001),
        Deployment(partitions=4, workers=1, triton_instances=4, batching=BATCH),
        backlog(3200),
    )
    assert 3.2 <= r.backfill_finished_s <= 3.2 * 1.05
    two = simulate(
        cost(worker_ms=1.0, triton_ms=0.001),
        Deployment(partitions=4, workers=2, triton_instances=4, batching=BATCH),
        backlog(3200),
    )
    assert two.backfill_finished_s == pytest.approx(r.backfill_finished_s / 2, rel=0.05)


def test_batches_in_flight_bound_how_many_instances_a_worker_feeds():
    """Eight instances, but one worker with one batch in flight keeps one busy: 100 batches x 32 ms.
    Four in flight drain it four times faster (Little's law, what the plan sizes workers by)."""
    dep = Deployment(
        partitions=4, workers=1, triton_instances=8, batching=BATCH.model_copy(update={"batches_in_flight": 1})
    )
    one = simulate(cost(triton_ms=1.0), dep, backlog(3200))
    assert 3.2 <= one.backfill_finished_s <= 3.2 * 1.05
    four = simulate(
        cost(triton_ms=1.0),
        dep.model_copy(update={"batching": BATCH.model_copy(update={"batches_in_flight": 4})}),
        backlog(3200),
    )
    assert four.backfill_finished_s == pytest.approx(one.backfill_finished_s / 4, rel=0.1)


def test_triton_merges_queued_requests_up_to_its_preferred_size():
    """Requests of 8 queued behind a busy instance run merged: 4 x 8 items per execution."""
    b = BATCH.model_copy(update={"request_items": 8})
    merged = simulate(
        CostModel(worker_ms_model=0.001, worker_ms_cached=0.001, triton_ms_per_item=1.0, triton_ms_per_execution=10),
        Deployment(partitions=1, workers=1, triton_instances=1, batching=b),
        backlog(3200),
    )
    alone = simulate(
        CostModel(worker_ms_model=0.001, worker_ms_cached=0.001, triton_ms_per_item=1.0, triton_ms_per_execution=10),
        Deployment(
            partitions=1, workers=1, triton_instances=1, batching=b.model_copy(update={"triton_merge_items": 8})
        ),
        backlog(3200),
    )
    # merged: 3,200 ms of items + 10 ms per execution of up to 32 items (fewer executions)
    assert merged.backfill_finished_s < alone.backfill_finished_s
    assert alone.backfill_finished_s == pytest.approx(3.2 + 400 * 0.010, rel=0.05)


def test_at_low_load_an_event_waits_for_the_batch_timer_then_its_inference():
    r = simulate(
        cost(triton_ms=5.0),
        Deployment(partitions=4, workers=1, triton_instances=2, batching=BATCH),
        Traffic(live_per_s=2.0, duration_s=600),
    )
    assert r.live_events > 1000
    assert 0.005 * 1000 <= r.live_p50_ms <= 200 + 20  # timer (0-200 ms) + a 1-2 item inference
    assert r.live_max_ms <= 200 + 50
    assert 70 <= r.live_p50_ms <= 130  # the timer is uniform over the 200 ms wait


def test_every_event_is_accounted_for():
    r = simulate(
        cost(triton_ms=5.0),
        Deployment(partitions=4, workers=2, triton_instances=2, batching=BATCH),
        Traffic(live_per_s=300.0, duration_s=30, backfill_events=5000, backfill_rate=500),
    )
    assert r.live_arrived > 0
    assert r.live_events + r.live_unfinished == r.live_arrived
    assert r.backfill_done <= 5000


def test_overload_builds_a_backlog_that_grows():
    r = simulate(
        cost(triton_ms=5.0),
        Deployment(partitions=4, workers=1, triton_instances=1, batching=BATCH),
        Traffic(live_per_s=400.0, duration_s=60),  # twice what one instance does (200 items/s)
        samples=12,
    )
    waiting = [n for _, n, _ in r.timeline]
    assert waiting[-1] > waiting[1] > 1000
    assert r.live_unfinished > 5000
    assert r.timeline[-1][2] > 5 * r.timeline[1][2]  # the p99 of each window grows with the backlog
    assert r.triton_utilisation > 0.95


def test_a_backfill_without_rate_makes_live_updates_wait_behind_it():
    dep = Deployment(partitions=4, workers=1, triton_instances=2, batching=BATCH)
    c = cost(triton_ms=5.0)  # 400 items/s in all
    throttled = simulate(c, dep, Traffic(live_per_s=20, duration_s=150, backfill_events=30_000, backfill_rate=300))
    unthrottled = simulate(c, dep, Traffic(live_per_s=20, duration_s=150, backfill_events=30_000, backfill_rate=20_000))
    assert throttled.backfill_finished_s == pytest.approx(100, rel=0.05)  # its --rate sets the pace
    assert unthrottled.backfill_finished_s < throttled.backfill_finished_s  # as fast as the model goes...
    assert throttled.live_p99_ms < 1000
    assert unthrottled.live_p99_ms > 30 * throttled.live_p99_ms  # ...while live updates queue behind it


def test_cache_hits_never_reach_triton():
    r = simulate(
        cost(triton_ms=5.0),
        Deployment(partitions=4, workers=1, triton_instances=1, batching=BATCH),
        Traffic(live_per_s=100.0, live_cache_hit=1.0, duration_s=30),
    )
    assert r.triton_utilisation == 0
    assert r.live_events > 2000


def test_deterministic_for_a_seed_and_empty_traffic_is_fine():
    dep = Deployment(partitions=4, workers=1, triton_instances=1, batching=BATCH)
    t = Traffic(live_per_s=50.0, duration_s=20)
    assert simulate(cost(), dep, t, seed=1) == simulate(cost(), dep, t, seed=1)
    assert simulate(cost(), dep, t, seed=1) != simulate(cost(), dep, t, seed=2)
    idle = simulate(cost(), dep, Traffic(live_per_s=0, duration_s=5))
    assert (idle.live_events, idle.live_p99_ms, idle.backfill_finished_s, idle.max_backlog) == (0, None, None, 0)
    with pytest.raises(ValueError, match="samples"):
        simulate(cost(), dep, t, samples=0)
