"""The streaming worker end to end: real broker (Tansu), real Redis, real Triton, worker processes."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from datetime import UTC, datetime

import pytest

from tagstream.clients.producer import OutEvent, produce
from tagstream.clients.publish import publish
from tagstream.clients.subscriber import read_topic
from tagstream.core.names import MODEL_NAME
from tagstream.core.text import model_text
from tagstream.localstack.scrape import metric_sum, scrape
from tagstream.localstack.stack import LocalStack
from tagstream.trainer.export import export_model
from tagstream.trainer.predict import Tagger

pytestmark = [pytest.mark.integration, pytest.mark.slow]
IN, OUT, DLQ = "product-updates", "product-tags", "product-tags.dlq"
WORKER = {"app_id": "tagstream-test", "batch_wait_s": 0.1, "version_check_s": 0.5}


@pytest.fixture(scope="module")
def system(tiny_model, tmp_path_factory):
    work = tmp_path_factory.mktemp("stream")
    repo = work / "repo"
    export_model(tiny_model, repo)
    stack = LocalStack(work, repo).start()
    worker = stack.start_worker("worker1", **WORKER)
    sysinfo = {
        "stack": stack,
        "broker": stack.broker,
        "redis": stack.redis,
        "triton": stack.triton,
        "repo": repo,
        "worker": worker,
        "workers": [worker],
        "work": work,
        "model": tiny_model,
    }
    yield sysinfo
    stack.stop()


def event(pid: str, title: str, **kw) -> OutEvent:
    body = {
        "event_id": kw.pop("event_id", str(uuid.uuid4())),
        "product_id": pid,
        "op": kw.pop("op", "upsert"),
        "title": title,
        "updated_at": datetime.now(UTC).isoformat(),
        **kw,
    }
    return OutEvent(pid.encode(), json.dumps(body).encode())


def send(system, events: list[OutEvent]) -> None:
    asyncio.run(produce(system["broker"].url, IN, events))


def wait_for(system, topic: str, want, n: int, timeout: float = 90.0, distinct=None) -> list:
    """Messages on `topic` accepted by `want`, until n of them arrived (with `distinct`, n different
    `distinct(record)` values: replays count once) or the timeout passed; what arrived by then."""
    got: list = []

    async def go():
        seen = set()
        async for r in read_topic(system["broker"].url, topic, idle_timeout_s=None):
            if want(r):
                got.append(r)
                seen.add(distinct(r) if distinct else len(got))
                if len(seen) >= n:
                    return

    async def bounded():
        try:
            await asyncio.wait_for(go(), timeout)
        except TimeoutError:
            pass

    asyncio.run(bounded())
    return got


def triton_inference_count(system) -> float:
    return metric_sum(scrape(system["triton"].metrics_url), "nv_inference_count", model=MODEL_NAME)


TITLES = [
    "Roadster Men Navy Blue Checked Casual Shirt",
    "Lavie Women Red Handbag",
    "Nike Men Black Running Shoes",
    "Fastrack Unisex Black Watch",
    "Puma Women Pink Track Pants",
    "FabHomeDecor Fabric Double Sofa Bed",
    "Titan Men Silver Watch",
    "Jockey Men White Vest",
]


def test_n_events_in_give_n_tag_events_out_matching_predict(system):
    run = uuid.uuid4().hex[:6]
    events = [
        event(
            f"{run}-{i}",
            TITLES[i % len(TITLES)] + f" style {i}",
            brand="Acme" if i % 2 else "",
            attributes={"size": str(i)},
        )
        for i in range(40)
    ]
    send(system, events)
    got = wait_for(system, OUT, lambda r: r.key and r.key.startswith(run), 40)
    assert len(got) == 40
    assert {r.key for r in got} == {f"{run}-{i}" for i in range(40)}
    tagger = Tagger(system["model"])
    texts = {
        f"{run}-{i}": model_text(
            json.loads(e.value)["title"],
            json.loads(e.value).get("brand", ""),
            "",
            json.loads(e.value)["attributes"],
        )
        for i, e in enumerate(events)
    }
    for r in got:
        v = r.value
        assert v["model_name"] == "product_tagger" and v["model_version"] == "1" and v["cached"] is False
        want = tagger.tags([texts[r.key]])[0]
        assert [t["tag"] for t in v["tags"]] == [t for t, _ in want]
        for t, (_, s) in zip(v["tags"], want, strict=True):
            assert abs(t["score"] - s) < 1e-4
        scores = [t["score"] for t in v["tags"]]
        assert scores == sorted(scores, reverse=True)


def test_unchanged_content_is_served_from_cache_without_triton(system):
    run = uuid.uuid4().hex[:6]
    first = [
        event(f"{run}-{i}", f"Unique cache test product {run} number {i}", attributes={"colour": "Blue"})
        for i in range(10)
    ]
    send(system, first)
    assert len(wait_for(system, OUT, lambda r: r.key and r.key.startswith(run), 10)) == 10
    before_triton = triton_inference_count(system)
    before_items = system["worker"].metric("tagstream_inference_items_total")
    # the same content again, with a field the model does not read (a price) changed
    again = [
        event(
            f"{run}-{i}",
            f"Unique cache test product {run} number {i}",
            attributes={"colour": "Blue"},
            price=i + 1,
        )
        for i in range(10)
    ]
    ids = {json.loads(e.value)["event_id"] for e in again}
    send(system, again)
    got = wait_for(system, OUT, lambda r: r.value is not None and r.value["source_event_id"] in ids, 10)
    assert len(got) == 10 and all(r.value["cached"] for r in got)
    assert triton_inference_count(system) == before_triton
    assert system["worker"].metric("tagstream_inference_items_total") == before_items
    assert system["worker"].metric("tagstream_cache_hits_total") >= 10


def test_bad_events_go_to_dead_letter_topic_with_reason(system):
    run = uuid.uuid4().hex[:6]
    bad = [
        OutEvent(f"{run}-json".encode(), b"{this is not json"),
        OutEvent(
            f"{run}-notitle".encode(),
            json.dumps(
                {"event_id": "x", "product_id": f"{run}-notitle", "updated_at": "2026-01-01T00:00:00Z"}
            ).encode(),
        ),
        OutEvent(
            f"{run}-big".encode(),
            json.dumps(
                {
                    "event_id": "y",
                    "product_id": f"{run}-big",
                    "title": "t" * 5000,
                    "updated_at": "2026-01-01T00:00:00Z",
                }
            ).encode(),
        ),
        OutEvent(
            f"{run}-op".encode(),
            json.dumps(
                {
                    "event_id": "z",
                    "product_id": f"{run}-op",
                    "op": "explode",
                    "title": "a",
                    "updated_at": "2026-01-01T00:00:00Z",
                }
            ).encode(),
        ),
        OutEvent(f"{run}-list".encode(), b"[1, 2]"),
    ]
    good = event(f"{run}-good", "Nike Men Black Running Shoes")
    send(system, bad + [good])
    dl = wait_for(system, DLQ, lambda r: r.key and r.key.startswith(run), 5)
    by_key = {r.key: r.value for r in dl}
    assert set(by_key) == {f"{run}-{k}" for k in ("json", "notitle", "big", "op", "list")}
    assert by_key[f"{run}-json"]["stage"] == "decode" and "invalid JSON" in by_key[f"{run}-json"]["error"]
    assert by_key[f"{run}-list"]["stage"] == "decode"
    assert by_key[f"{run}-notitle"]["stage"] == "validate" and "title" in by_key[f"{run}-notitle"]["error"]
    assert "title too large" in by_key[f"{run}-big"]["error"]
    assert by_key[f"{run}-op"]["stage"] == "validate" and "op" in by_key[f"{run}-op"]["error"]
    d = by_key[f"{run}-json"]
    assert base64.b64decode(d["value_b64"]) == b"{this is not json" and d["topic"] == IN and d["offset"] >= 0
    # the stream goes on: the good event in the same run is tagged
    assert len(wait_for(system, OUT, lambda r: r.key == f"{run}-good", 1)) == 1


def test_delete_gives_tombstone(system):
    pid = f"del-{uuid.uuid4().hex[:6]}"
    send(system, [event(pid, "Titan Men Silver Watch")])
    assert len(wait_for(system, OUT, lambda r: r.key == pid and r.value is not None, 1)) == 1
    send(system, [event(pid, "", op="delete")])
    got = wait_for(system, OUT, lambda r: r.key == pid and r.value is None, 1)
    assert len(got) == 1 and got[0].value is None


def test_new_model_version_mid_stream_is_used_and_old_cache_ignored(system):
    run = uuid.uuid4().hex[:6]
    titles = [f"Versioned product {run} {i} Puma Women Pink Track Pants" for i in range(5)]
    send(system, [event(f"{run}-{i}", t) for i, t in enumerate(titles)])
    first = wait_for(system, OUT, lambda r: r.key and r.key.startswith(run), 5)
    assert {r.value["model_version"] for r in first} == {"1"}
    version, _ = export_model(system["model"], system["repo"])
    assert version == 2
    res = publish(system["triton"].http_url)
    assert res.serving_version == 2
    time.sleep(1.5)  # > TAGSTREAM_VERSION_CHECK_S
    again = [event(f"{run}-{i}", t) for i, t in enumerate(titles)]  # unchanged content
    ids = {json.loads(e.value)["event_id"] for e in again}
    send(system, again)
    got = wait_for(system, OUT, lambda r: r.value is not None and r.value["source_event_id"] in ids, 5)
    assert len(got) == 5
    assert {r.value["model_version"] for r in got} == {"2"}
    assert not any(r.value["cached"] for r in got)  # v1 cache entries were not used


def test_two_workers_in_one_group_share_partitions(system):
    w1 = system["worker"]
    w2 = system["stack"].start_worker("worker2", wait_assigned=False, **WORKER)
    system["workers"] = [w1, w2]
    w2.wait_assigned(timeout=120)
    w1.wait_assigned(timeout=60)
    in1, in2 = w1.metric("tagstream_events_in_total"), w2.metric("tagstream_events_in_total")
    run = uuid.uuid4().hex[:6]
    send(system, [event(f"{run}-{i}", TITLES[i % len(TITLES)] + f" {run} {i}") for i in range(60)])
    got = wait_for(system, OUT, lambda r: r.key and r.key.startswith(run), 60, timeout=120)
    assert {r.key for r in got} == {f"{run}-{i}" for i in range(60)}
    d1 = w1.metric("tagstream_events_in_total") - in1
    d2 = w2.metric("tagstream_events_in_total") - in2
    assert d1 > 0 and d2 > 0, (d1, d2)
    assert d1 + d2 >= 60


def test_redis_down_is_a_cache_miss_and_the_stream_goes_on(system):
    workers = system["workers"]
    errors_before = sum(w.metric("tagstream_cache_errors_total") for w in workers)
    system["redis"].kill()
    try:
        run = uuid.uuid4().hex[:6]
        send(system, [event(f"{run}-{i}", TITLES[i % len(TITLES)] + f" no redis {i}") for i in range(8)])
        got = wait_for(system, OUT, lambda r: r.key and r.key.startswith(run), 8)
        assert len(got) == 8 and not any(r.value["cached"] for r in got)
        assert sum(w.metric("tagstream_cache_errors_total") for w in workers) > errors_before
    finally:
        system["redis"].start()


def test_triton_down_pauses_without_dropping_then_resumes(system):
    run = uuid.uuid4().hex[:6]
    # The lag gauge covers partitions a worker has processed since it was assigned them: prime every
    # partition (40 keys over a few partitions: all are hit, but for a ~1e-4 chance).
    send(system, [event(f"{run}-prime-{i}", TITLES[i % len(TITLES)]) for i in range(40)])
    assert len(wait_for(system, OUT, lambda r: r.key and r.key.startswith(f"{run}-prime-"), 40)) == 40
    system["triton"].stop()
    try:
        send(system, [event(f"{run}-{i}", TITLES[i % len(TITLES)] + f" no triton {i}") for i in range(6)])
        # nothing is tagged, nothing is dead-lettered while Triton is away
        assert (
            wait_for(system, OUT, lambda r: r.key and r.key.startswith(run) and "prime" not in r.key, 1, timeout=8)
            == []
        )
        assert wait_for(system, DLQ, lambda r: r.key and r.key.startswith(run), 1, timeout=2) == []
        # and the stalled worker's lag shows the waiting events (the gauge is computed on scrape)
        workers = system["workers"]
        assert sum(w.metric("tagstream_consumer_lag") for w in workers) >= 6
    finally:
        system["triton"].start()
    deadline = time.monotonic() + 180
    while not system["triton"].model_ready(MODEL_NAME) and time.monotonic() < deadline:
        time.sleep(0.5)
    got = wait_for(system, OUT, lambda r: r.key and r.key.startswith(run) and "prime" not in r.key, 6, timeout=120)
    assert {r.key for r in got} == {f"{run}-{i}" for i in range(6)}


def source_id(r) -> str:
    return r.value["source_event_id"]


def tagged_events(system, ids: set[str], minimum_distinct: int, timeout: float) -> list:
    """Tag events for the given source event ids, until `minimum_distinct` of the ids are covered."""
    return wait_for(
        system,
        OUT,
        lambda r: r.value is not None and source_id(r) in ids,
        minimum_distinct,
        timeout,
        distinct=source_id,
    )


def source_ids(records: list) -> set[str]:
    return {source_id(r) for r in records}


def test_workers_killed_and_stopped_mid_stream_lose_nothing(system):
    """Crash and resume, faust-stress style: SIGKILL every worker while a backlog is being tagged and
    start a new one; SIGTERM that one while a second backlog is being tagged and start another.
    At-least-once: every event ends as a tag event; an event tagged twice (processed, not yet
    committed, then replayed) gets the same tags."""
    run = uuid.uuid4().hex[:6]
    n = 500

    def backlog(phase: str) -> set[str]:
        events = [event(f"{run}-{phase}-{i}", TITLES[i % len(TITLES)] + f" {phase} {run} {i}") for i in range(n)]
        send(system, events)
        return {json.loads(e.value)["event_id"] for e in events}

    killed = backlog("kill")
    assert len(source_ids(tagged_events(system, killed, 20, timeout=120))) >= 20, "tagging did not start"
    for w in system["workers"]:
        w.kill()  # SIGKILL: no commit, no leave-group
    at_kill = source_ids(tagged_events(system, killed, n, timeout=3))
    assert len(at_kill) < n, "the backlog was done before the kill: make it larger"
    restarted = system["stack"].start_worker("worker-after-kill", wait_assigned=False, **WORKER)
    system["workers"] = [restarted]
    restarted.wait_assigned(timeout=120)
    after_kill = source_ids(tagged_events(system, killed, n, timeout=120))
    assert after_kill == killed, (
        f"{n - len(after_kill)} of {n} events lost to the SIGKILL ({len(at_kill)} were tagged before it)"
    )

    stopped = backlog("term")
    assert len(source_ids(tagged_events(system, stopped, 20, timeout=60))) >= 20, "tagging did not start"
    assert restarted.stop() == 0, restarted.log_tail()  # SIGTERM while the backlog is being tagged: a clean stop
    last = system["stack"].start_worker("worker-after-term", wait_assigned=False, **WORKER)
    system["workers"] = [last]
    last.wait_assigned(timeout=120)

    ids = killed | stopped
    got = tagged_events(system, ids, len(ids), timeout=120)
    by_id: dict[str, list] = {}
    for r in got:
        by_id.setdefault(r.value["source_event_id"], []).append(r.value)
    assert set(by_id) == ids, f"{len(ids - set(by_id))} of {len(ids)} events were never tagged"
    for values in by_id.values():  # replays are idempotent: same product, version, tags
        assert len({json.dumps([v["product_id"], v["model_version"], v["tags"]], sort_keys=True) for v in values}) == 1
    assert wait_for(system, DLQ, lambda r: r.key and r.key.startswith(run), 1, timeout=2) == []
