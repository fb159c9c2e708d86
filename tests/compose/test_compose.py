"""The production compose file, run: the real images (built from docker/ on a local base) and the
local stand-ins for the images that cannot be pulled here, through the ports published on 127.0.0.1.
The tests run in order on one stack, from empty (no model) to `down -v`; every event sent is
accounted for (a tag event, a tombstone or a dead letter), counted by its partition and offset."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request

import pytest

from tagstream.stream.kafka import KafkaConnection
from tagstream.stream.settings import WorkerSettings
from tests.compose.conftest import REDIS_PASSWORD
from tests.compose.stack import (
    BROKER_URL,
    PROMETHEUS,
    TLS_BROKER_URL,
    TLS_OVERRIDE,
    TRITON_HTTP,
    ComposeStack,
    http_json,
    run,
    wait_for,
)
from tests.conftest import EXAMPLES, tagstream
from tests.reliability import cases
from tests.reliability.harness import Ledger, Sent, event, good_events
from tests.tls import make_certs

pytestmark = [pytest.mark.compose, pytest.mark.slow]

TOPICS = {"input_topic": "product-updates", "output_topic": "product-tags", "dlq_topic": "product-tags.dlq"}
PARTITIONS = 6  # TOPIC_PARTITIONS of the stack (tests/compose/stack.py)
GROUP = "tagstream-worker"  # the worker's default TAGSTREAM_APP_ID


def ledger() -> Ledger:
    return Ledger(BROKER_URL, TOPICS, GROUP, PARTITIONS)


def titles() -> list[str]:
    return [
        json.loads(line)["title"]
        for split in ("test", "val")
        for line in (EXAMPLES / f"catalogue.{split}.jsonl").read_text(encoding="utf-8").splitlines()
    ]


def upserts(prefix: str, n: int) -> list:
    """n upserts of distinct products, with texts no earlier test sent (cache misses)."""
    return good_events(prefix, titles(), n, unique_text=True)


def ready_workers(stack: ComposeStack, n: int, timeout: float = 120) -> dict[str, dict]:
    """Wait until n worker replicas run and each is ready with partitions; their /readyz bodies."""

    def check() -> dict[str, dict] | None:
        found = {c: stack.worker_ready(c) for c in stack.containers("worker")}
        if len(found) == n and all(b and b["assigned_partitions"] > 0 for b in found.values()):
            return found  # type: ignore[return-value]
        return None

    return wait_for(check, timeout, f"{n} ready workers, each with partitions")


def assert_all_answered(lg: Ledger, stack: ComposeStack, timeout: float = 240):
    rep = lg.wait_all_answered(timeout=timeout)
    if rep.lost or rep.wrong:  # pytest shows this with the failure: what the workers said, less their batches
        said = stack.logs("worker", tail=2000).splitlines()
        print("\n".join(line for line in said if '"batch done"' not in line)[-20_000:])
    assert rep.lost == 0 and rep.wrong == [], rep.as_dict()
    return rep


def test_first_model_from_empty_repository(compose, compose_results):
    """`up` with an empty model repository: Triton is live with no model, the worker is healthy but not
    ready; the trainer service makes version 1, Triton loads it, and the worker becomes ready."""
    t0 = time.monotonic()
    compose.timed("up", compose.up)
    worker = compose.containers("worker")[0]
    wait_for(lambda: compose.health(worker) == "healthy", 120, "worker healthy")
    compose.timings["up_to_healthy"] = round(time.monotonic() - t0, 1)
    assert compose.worker_ready(worker) is None  # no model yet: not ready
    req = urllib.request.Request(f"{TRITON_HTTP}/v2/repository/index", data=b"{}", method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert b'"version"' not in r.read()  # no version in the repository

    out = compose.timed("first_model", compose.train)
    assert "serving version 1" in out, out[-2000:]
    wait_for(lambda: compose.worker_ready(worker), 90, "worker ready on version 1")
    compose.timings["up_to_ready"] = round(time.monotonic() - t0, 1)
    compose_results["first_model"] = out.strip().splitlines()[-1]


def test_every_event_is_accounted_for(compose, compose_results):
    """1,000 upserts and 44 kinds of malformed events, then 100 repeats of known texts (from the
    cache) and a delete (a tombstone): every input ends as exactly what it should."""
    lg = ledger()
    first = upserts("acct", 1000)
    bad = [(cases.as_event(c), Sent(c.label, c.expect, c.event_id, c.reason)) for c in cases.malformed()]
    lg.send(first)
    lg.send(bad, max_request_bytes=4 * cases.MAX_EVENT_BYTES)  # an oversized event is one of them
    assert_all_answered(lg, compose)

    repeats = []
    for i, (ev, _) in enumerate(first[:100]):
        body = ev.value.replace(b'"acct-p', b'"acct-repeat-p').replace(b'"acct-e', b'"acct-repeat-e')
        eid = f"acct-repeat-e{i}"
        repeats.append((type(ev)(f"acct-repeat-p{i}".encode(), body), Sent("repeat", "tag", eid)))
    delete = event("acct-p500", "", "acct-delete", op="delete")
    lg.send([*repeats, (delete, Sent("delete", "tombstone", "acct-delete"))])
    rep = assert_all_answered(lg, compose)

    repeat_ids = {s.event_id for _, s in repeats}
    cached = [
        r.value["cached"] for r in lg.read("output_topic") if r.value and r.value["source_event_id"] in repeat_ids
    ]
    compose_results["accounting"] = rep.as_dict() | {"repeats_cached": sum(cached)}
    assert rep.sent == 1145 and rep.tagged == 1100 and rep.tombstones == 1 and rep.dead_lettered == 44
    assert len(cached) == 100 and all(cached), f"{sum(cached)} of {len(cached)} repeats came from the cache"


def test_three_workers_share_partitions_and_a_killed_one_loses_nothing(compose, compose_results):
    """`--scale worker=3`, then SIGKILL of one mid-stream (docker does not restart a container it was
    told to kill): the other two take its partitions after the session timeout. Nothing is lost;
    what is replayed is bounded by what the workers can have published and not yet committed when
    the group rebalances: per worker, its batches in flight plus one commit interval of the stream
    (settings defaults: 2 x 32 events, 1 s)."""
    compose.up("worker", scale={"worker": 3})
    bodies = ready_workers(compose, 3)
    assert sum(b["assigned_partitions"] for b in bodies.values()) >= PARTITIONS

    lg = ledger()
    rate, n = 100, 1500
    sender = lg.send_in_background(upserts("kill", n), rate=rate)
    time.sleep(5)
    victim = compose.containers("worker")[0]
    run(["docker", "kill", "-s", "KILL", victim])
    sender.join()
    rep = assert_all_answered(lg, compose)
    defaults = WorkerSettings()
    per_worker = defaults.batches_in_flight * defaults.batch_max + rate * defaults.commit_interval_s
    bound = 3 * per_worker
    restarts = compose.inspect(victim)["RestartCount"]
    compose_results["sigkill"] = rep.as_dict() | {"duplicate_bound": bound, "victim_restarts": restarts}
    assert rep.tagged + rep.superseded == n
    assert rep.duplicated <= bound, (rep.duplicated, bound)


def test_redis_and_triton_restarts_mid_stream_lose_nothing(compose, compose_results):
    compose.up("worker", scale={"worker": 2})
    ready_workers(compose, 2)
    lg = ledger()
    sender = lg.send_in_background(upserts("restart", 900), rate=60)
    time.sleep(3)
    run(["docker", "restart", "-t", "10", *compose.containers("redis")])
    time.sleep(3)
    run(["docker", "restart", "-t", "10", *compose.containers("triton")])
    sender.join()
    rep = assert_all_answered(lg, compose)
    compose_results["restarts"] = rep.as_dict()
    assert rep.tagged + rep.superseded == 900 and rep.dead_lettered == 0


def test_docker_stop_of_a_worker_finishes_within_its_grace_period(compose, compose_results):
    ready_workers(compose, 2)
    lg = ledger()
    sender = lg.send_in_background(upserts("stop", 400), rate=50)
    time.sleep(3)
    victim = compose.containers("worker")[0]
    t0 = time.monotonic()
    run(["docker", "stop", "-t", "40", victim], timeout=60)  # stop_grace_period: 40s
    stop_s = time.monotonic() - t0
    code = compose.inspect(victim)["State"]["ExitCode"]
    sender.join()
    rep = assert_all_answered(lg, compose)
    compose_results["docker_stop"] = rep.as_dict() | {"stop_s": round(stop_s, 1), "exit_code": code}
    assert code == 0 and stop_s < 40, (code, stop_s)


def test_model_refresh_while_streaming(compose, compose_results):
    """The trainer publishes version 2 while events stream: tag events switch from 1 to 2, with no
    dead letter and nothing lost."""
    compose.up("worker", scale={"worker": 2})
    ready_workers(compose, 2)
    lg = ledger()
    published: list[float] = []

    def refresh() -> None:
        compose.train("--epochs 1 --max-items 600 --no-references --seed 5")
        published.append(time.monotonic())

    trainer = threading.Thread(target=refresh, daemon=True)
    trainer.start()
    batch = 0
    while trainer.is_alive() or not published or time.monotonic() - published[0] < 6:
        lg.send(upserts(f"refresh{batch}", 40))
        batch += 1
        time.sleep(1.0)
    trainer.join()
    assert published, "the trainer did not publish version 2"
    rep = assert_all_answered(lg, compose)
    versions = [o.detail for outs in lg.outcomes().values() for o in outs if o.kind == "tags"]
    compose_results["refresh"] = rep.as_dict() | {"versions": {v: versions.count(v) for v in set(versions)}}
    assert rep.dead_lettered == 0
    assert {str(v) for v in versions} == {"1", "2"}, set(versions)
    # the last batch was sent seconds after version 2 was serving: all of it is version 2
    last = {s.event_id for s in lg.sent.values() if s.event_id and s.event_id.startswith(f"refresh{batch - 1}-")}
    tail = [r.value["model_version"] for r in lg.read("output_topic") if r.value and r.value["source_event_id"] in last]
    assert tail and {str(v) for v in tail} == {"2"}, tail


def test_prometheus_scrapes_every_worker_and_fires_the_stall_alert(compose, compose_results):
    compose.up("worker", scale={"worker": 3})
    ready_workers(compose, 3)

    def workers_up() -> list[dict] | None:
        targets = http_json(f"{PROMETHEUS}/api/v1/targets")["data"]["activeTargets"]
        mine = [t for t in targets if t["labels"]["job"] == "tagstream-worker"]
        return mine if len(mine) == 3 and all(t["health"] == "up" for t in mine) else None

    wait_for(workers_up, 60, "Prometheus scraping 3 worker replicas, all up")

    triton = compose.containers("triton")
    run(["docker", "stop", "-t", "10", *triton])
    lg = ledger()
    lg.send(upserts("stall", 60))
    t0 = time.monotonic()
    states: dict[str, float] = {}

    def alert_state() -> str | None:
        for a in http_json(f"{PROMETHEUS}/api/v1/alerts")["data"]["alerts"]:
            if a["labels"]["alertname"] == "TagstreamStalled":
                states.setdefault(a["state"], round(time.monotonic() - t0, 1))
                return a["state"] if a["state"] == "firing" else None
        return None

    wait_for(alert_state, 120, "TagstreamStalled firing")
    run(["docker", "start", *triton])
    rep = assert_all_answered(lg, compose)
    compose_results["stall_alert"] = {"seen_s": states, "events": rep.as_dict()}
    assert "pending" in states and states["pending"] < states["firing"], states


def test_kafka_over_mutual_tls_through_a_terminator(compose, compose_results, tmp_path_factory):
    """The broker behind a TLS terminator (stunnel4; Tansu serves plaintext only) that it advertises:
    `tagstream topics` and the worker reach it with the TAGSTREAM_KAFKA_SSL_* settings and a client
    certificate, every event sent over TLS is tagged, and a plaintext client is told the port speaks
    TLS."""
    tls_dir = tmp_path_factory.mktemp("kafka-tls")
    certs = make_certs(tls_dir, server_names=("kafka-tls",))
    for f in [tls_dir, *tls_dir.iterdir()]:
        f.chmod(0o755 if f.is_dir() else 0o644)  # throw-away test keys, read by the worker's and stunnel's users
    compose.env["TLS_DIR"] = str(tls_dir)
    compose.files.append(TLS_OVERRIDE)
    compose.compose("build", "kafka-tls", timeout=600)
    compose.up(scale={"worker": 1}, recreate=True)  # the broker (memory storage), topics and worker anew
    ready_workers(compose, 1)
    ssl = KafkaConnection(
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=certs.ca,
        kafka_ssl_certfile=certs.client_cert,
        kafka_ssl_keyfile=certs.client_key,
    )
    lg = Ledger(TLS_BROKER_URL, TOPICS, GROUP, PARTITIONS, ssl)
    lg.send(upserts("tls", 200))
    rep = assert_all_answered(lg, compose)
    assert rep.tagged == 200
    plain = tagstream(
        "topics", "--timeout", "20", env={**os.environ, "TAGSTREAM_BROKER_URL": TLS_BROKER_URL}, check=False
    )
    assert plain.returncode != 0 and "speaks TLS" in plain.stderr, plain.stderr
    compose_results["kafka_tls"] = rep.as_dict() | {"plaintext_client": plain.stderr.strip()}


def test_no_secret_in_container_config_or_command_lines_and_no_root(compose, compose_results):
    containers = compose.containers()
    assert len(containers) >= 6
    seen = {}
    for c in containers:
        info = compose.inspect(c)
        name = info["Name"].lstrip("/")
        cfg = info["Config"]
        config = [*(cfg.get("Env") or []), *(cfg.get("Cmd") or []), *(cfg.get("Entrypoint") or [])]
        config += [info["Path"], *info["Args"]]
        assert not any(REDIS_PASSWORD in x for x in config), f"{name}: the Redis password is in its config"
        assert not any("p@ss" in x for x in config), name
        top = run(["docker", "top", c, "-eo", "pid,uid,args"]).splitlines()[1:]  # docker top needs the pid
        uids = {line.split(None, 2)[1] for line in top}
        assert "0" not in uids and "root" not in uids, f"{name} runs a process as root: {top}"
        assert not any("p@ss" in line for line in top), f"{name}: the password is on a command line"
        seen[name] = sorted(uids)
    compose_results["users"] = seen


def test_down_v_leaves_nothing(compose):
    compose.down()
    label = f"label=com.docker.compose.project={compose.project}"
    assert run(["docker", "ps", "-aq", "--filter", label]).split() == []
    assert run(["docker", "network", "ls", "-q", "--filter", label]).split() == []
    assert run(["docker", "volume", "ls", "-q", "--filter", label]).split() == []
