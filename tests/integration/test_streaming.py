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
from tagstream.core.names import MODEL_NAME
from tagstream.core.repository import model_versions
from tagstream.core.text import model_text
from tagstream.localstack.scrape import metric_sum, scrape
from tagstream.trainer.export import export_model
from tagstream.trainer.predict import LocalModel
from tests.integration.topics import read_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
IN, OUT, DLQ = "product-updates", "product-tags", "product-tags.dlq"
WORKER = {"app_id": "tagstream-test", "batch_wait_s": 0.1, "version_check_s": 0.5}


@pytest.fixture(scope="module")
def system(module_workers, tiny_model, tmp_path_factory):
    """The session's shared stack, a worker on the default topics, and the version it serves now."""
    stack = module_workers
    work = tmp_path_factory.mktemp("stream")
    repo = stack.repo
    worker = stack.start_worker("worker1", **WORKER)
    return {
        "stack": stack,
        "broker": stack.broker,
        "redis": stack.redis,
        "triton": stack.triton,
        "repo": repo,
        "worker": worker,
        "workers": [worker],
        "work": work,
        "model": tiny_model,
        "version": model_versions(repo / MODEL_NAME)[-1],
    }


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
    return read_until(system["broker"].url, topic, n, want=want, timeout=timeout, distinct=distinct)


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
    tagger = LocalModel(system["model"])
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
        assert v["model_name"] == "product_tagger" and v["model_version"] == str(system["version"]) and not v["cached"]
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
    old = model_versions(system["repo"] / MODEL_NAME)[-1]
    assert {r.value["model_version"] for r in first} == {str(old)}
    version, _ = export_model(system["model"], system["repo"])
    assert version == old + 1
    res = publish(system["triton"].http_url)
    assert res.serving_version == version
    time.sleep(1.5)  # > TAGSTREAM_VERSION_CHECK_S
    again = [event(f"{run}-{i}", t) for i, t in enumerate(titles)]  # unchanged content
    ids = {json.loads(e.value)["event_id"] for e in again}
    send(system, again)
    got = wait_for(system, OUT, lambda r: r.value is not None and r.value["source_event_id"] in ids, 5)
    assert len(got) == 5
    assert {r.value["model_version"] for r in got} == {str(version)}
    assert not any(r.value["cached"] for r in got)  # the old version's cache entries were not used


def test_two_workers_in_one_group_share_partitions(system):
    """Also the two event loops: worker1 on the default (uvloop), worker2 on asyncio's own."""
    w1 = system["worker"]
    w2 = system["stack"].start_worker("worker2", wait_assigned=False, **WORKER, event_loop="asyncio")
    system["workers"] = [w1, w2]
    w2.wait_assigned(timeout=120)
    w1.wait_assigned(timeout=60)
    assert w1.metric("tagstream_worker_info", event_loop="uvloop") == 1
    assert w2.metric("tagstream_worker_info", event_loop="asyncio") == 1
    in1, in2 = w1.metric("tagstream_events_in_total"), w2.metric("tagstream_events_in_total")
    run = uuid.uuid4().hex[:6]
    send(system, [event(f"{run}-{i}", TITLES[i % len(TITLES)] + f" {run} {i}") for i in range(60)])
    got = wait_for(system, OUT, lambda r: r.key and r.key.startswith(run), 60, timeout=120)
    assert {r.key for r in got} == {f"{run}-{i}" for i in range(60)}
    d1 = w1.metric("tagstream_events_in_total") - in1
    d2 = w2.metric("tagstream_events_in_total") - in2
    assert d1 > 0 and d2 > 0, (d1, d2)
    assert d1 + d2 >= 60


def test_replay_dlq_resends_chosen_dead_letters_after_a_fix(system):
    """Events rejected by a limit that was too tight go to the dead-letter topic; after the fix,
    `tagstream replay-dlq` re-sends them and they are tagged. A second replay re-sends nothing."""
    import os

    from tests.conftest import tagstream

    stack, run = system["stack"], uuid.uuid4().hex[:6]
    topics = {"input_topic": f"replay-{run}.in", "output_topic": f"replay-{run}.tags", "dlq_topic": f"replay-{run}.dlq"}
    settings = {**WORKER, **topics, "app_id": f"replay-{run}"}
    tight = stack.start_worker(f"replay-tight-{run}", max_title_chars=20, **settings)
    events = [event(f"{run}-{i}", f"A title longer than twenty characters {i}") for i in range(4)]
    events.append(OutEvent(f"{run}-junk".encode(), b"{not json"))
    asyncio.run(produce(stack.broker.url, topics["input_topic"], events))
    dead = wait_for(system, topics["dlq_topic"], lambda r: True, 5)
    assert sorted(r.value["stage"] for r in dead) == ["decode"] + ["validate"] * 4
    assert tight.stop() == 0
    stack.start_worker(f"replay-fixed-{run}", **settings)  # the default limit

    env = dict(os.environ, TAGSTREAM_BROKER_URL=stack.broker.url, TAGSTREAM_DLQ_TOPIC=topics["dlq_topic"])
    dry = tagstream("replay-dlq", "--stage", "validate", "--dry-run", "--group", f"g-{run}", env=env)
    assert "would re-send 4 of 4 matching dead letters" in dry.stdout and dry.stdout.count("would replay") == 4
    res = tagstream(
        "replay-dlq", "--stage", "validate", "--contains", "title too large", "--group", f"g-{run}", env=env
    )
    assert "re-sent 4 of 4 matching dead letters (validate 4)" in res.stdout
    tagged = wait_for(system, topics["output_topic"], lambda r: r.value is not None, 4)
    assert sorted(r.key for r in tagged) == sorted(f"{run}-{i}" for i in range(4))
    again = tagstream("replay-dlq", "--stage", "validate", "--group", f"g-{run}", env=env)
    assert "re-sent 0 of 0" in again.stdout  # the group remembers what it re-sent
    bad = tagstream("replay-dlq", "--stage", "nope", env=env, check=False)
    assert bad.returncode == 2 and "unknown stage 'nope'" in bad.stderr


def test_backfill_retags_a_catalogue_and_resumes_after_a_crash(system, tmp_path):
    """`tagstream backfill` sends every product of a catalogue; killed half-way, the same command
    resumes from its last checkpoint, and every product ends up tagged."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import EXAMPLES

    stack, run = system["stack"], uuid.uuid4().hex[:6]
    topics = {
        "input_topic": f"backfill-{run}.in",
        "output_topic": f"backfill-{run}.tags",
        "dlq_topic": f"backfill-{run}.dlq",
    }
    stack.start_worker(f"backfill-{run}", **{**WORKER, **topics, "app_id": f"backfill-{run}"})
    rows = [json.loads(line) for line in (EXAMPLES / "catalogue.train.jsonl").read_text().splitlines()[:600]]
    catalogue = tmp_path / "catalogue.jsonl"
    catalogue.write_text("".join(json.dumps(dict(r, id=f"{run}-{i}")) + "\n" for i, r in enumerate(rows)))
    state = tmp_path / "catalogue.jsonl.backfill.json"
    env = dict(os.environ, TAGSTREAM_BROKER_URL=stack.broker.url, TAGSTREAM_INPUT_TOPIC=topics["input_topic"])
    cmd = [
        sys.executable,
        "-m",
        "tagstream.cli",
        "backfill",
        "--file",
        str(catalogue),
        "--rate",
        "100",
        "--checkpoint-every",
        "50",
    ]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not state.exists() or json.loads(state.read_text())["acked"] < 200):
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)  # a crash, between two checkpoints
    first.wait(10)
    acked_at_crash = json.loads(state.read_text())["acked"]
    assert 200 <= acked_at_crash < 600
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "600 of 600 products sent" in res.stdout, res.stderr
    tagged = wait_for(system, topics["output_topic"], lambda r: r.value is not None, 600, distinct=lambda r: r.key)
    assert {r.key for r in tagged} == {f"{run}-{i}" for i in range(600)}
    sent = wait_for(system, topics["input_topic"], lambda r: True, 10_000, timeout=10)
    assert len(sent) < 600 + 100  # resumed from the checkpoint: at most the events after it were sent twice
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "600 of 600" in again.stdout  # done: nothing more is sent


def test_produce_a_file_with_no_valid_row_fails(system, tmp_path):
    import os

    from tests.conftest import tagstream

    bad = tmp_path / "bad.jsonl"
    bad.write_text("{nope\n[1, 2]\n\n")
    env = dict(os.environ, TAGSTREAM_BROKER_URL=system["broker"].url)
    res = tagstream("produce", "--file", str(bad), env=env, check=False)
    assert res.returncode == 2 and "no event to send (2 rows skipped)" in res.stderr and "Traceback" not in res.stderr


def test_worker_attaches_explanations_when_asked(system):
    stack, run = system["stack"], uuid.uuid4().hex[:6]
    topics = {"input_topic": f"why-{run}.in", "output_topic": f"why-{run}.tags", "dlq_topic": f"why-{run}.dlq"}
    worker = stack.start_worker(f"why-{run}", **{**WORKER, **topics, "app_id": f"why-{run}", "explain_top_words": 2})
    titles = [f"Roadster Men Navy Blue Checked Casual Shirt {run}", f"Lavie Women Red Handbag {run}"]
    asyncio.run(
        produce(stack.broker.url, topics["input_topic"], [event(f"{run}-{i}", t) for i, t in enumerate(titles)])
    )
    got = wait_for(system, topics["output_topic"], lambda r: r.value is not None, 2)
    for r in got:
        why = r.value["explanations"]
        assert set(why) == {t["tag"] for t in r.value["tags"]}
        words = {w["word"] for ws in why.values() for w in ws}
        assert words and words <= set(titles[int(r.key.rsplit("-", 1)[1])].split())
        assert all(len(ws) <= 2 for ws in why.values())
    # each word of an inferred event costs one more scored text
    assert worker.metric("tagstream_inference_items_total") == sum(len(t.split()) + 1 for t in titles)
