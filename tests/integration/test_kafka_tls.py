"""Kafka over TLS, mutual TLS included, through a real TLS terminator: Debian's stunnel4 in front of
Tansu (which cannot serve TLS), Tansu advertising the terminator's port. The worker tags through it
with the TAGSTREAM_KAFKA_SSL_* settings; a TLS or plaintext mismatch, an untrusted broker
certificate and a missing client certificate are each reported as such, in one line, at once."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest

from tagstream.clients.producer import produce
from tagstream.clients.subscriber import read_topic
from tagstream.core.names import MODEL_NAME
from tagstream.localstack.ports import free_port
from tagstream.localstack.process import TansuBroker
from tagstream.localstack.stack import LocalStack
from tagstream.stream.kafka import KafkaConnection
from tagstream.stream.topics import ensure_topics
from tagstream.trainer.export import export_model
from tests.conftest import tagstream
from tests.integration.test_streaming import event
from tests.tls import Stunnel, make_certs

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def tls_kafka(tiny_model, tmp_path_factory):
    work = tmp_path_factory.mktemp("kafka-tls")
    certs = make_certs(work / "certs")
    plain_port, repo = free_port(), work / "repo"
    terminator = Stunnel(work / "stunnel", certs, connect_port=plain_port)
    tls_url = f"kafka://127.0.0.1:{terminator.accept_port}"
    export_model(tiny_model, repo)
    stack = LocalStack(work, repo)
    # every client goes through the terminator: the broker advertises it, so a plaintext client of the
    # broker's own port is sent there too
    stack.broker = TansuBroker(
        work / "tansu", port=plain_port, advertised_url=f"tcp://127.0.0.1:{terminator.accept_port}"
    )
    ssl = {
        "kafka_security_protocol": "SSL",
        "kafka_ssl_cafile": certs.ca,
        "kafka_ssl_certfile": certs.client_cert,
        "kafka_ssl_keyfile": certs.client_key,
    }
    try:
        for server in (stack.broker, terminator, stack.redis, stack.triton):
            server.start()
        stack.triton.wait_model_ready(MODEL_NAME)
        topics = {stack.input_topic: 2, stack.output_topic: 2, stack.dlq_topic: 1}
        asyncio.run(ensure_topics(tls_url, topics, connection=KafkaConnection(**ssl)))
        yield {"stack": stack, "certs": certs, "tls_url": tls_url, "ssl": ssl}
    finally:
        stack.stop()
        terminator.stop()


def test_the_worker_tags_over_mutual_tls(tls_kafka):
    stack, url, ssl = tls_kafka["stack"], tls_kafka["tls_url"], tls_kafka["ssl"]
    connection = KafkaConnection(**ssl)
    worker = stack.start_worker("tls", app_id="tagstream-kafka-tls", broker_url=url, batch_wait_s=0.1, **ssl)
    run = uuid.uuid4().hex[:6]
    events = [event(f"{run}-{i}", f"Roadster Men Navy Blue Checked Casual Shirt {run} {i}") for i in range(5)]
    asyncio.run(produce(url, stack.input_topic, events, connection=connection))

    async def tagged() -> list:
        got = []
        async for r in read_topic(url, stack.output_topic, idle_timeout_s=None, connection=connection):
            if r.key and r.key.startswith(run):
                got.append(r)
                if len(got) == 5:
                    return got
        return got

    got = asyncio.run(asyncio.wait_for(tagged(), 90))
    assert len(got) == 5 and all(r.value["tags"] for r in got)
    assert worker.readiness()["assigned_partitions"] > 0


def _topics(env: dict[str, str]):
    full = {k: v for k, v in os.environ.items() if not k.startswith("TAGSTREAM_")} | env
    t0 = time.monotonic()
    res = tagstream("topics", "--timeout", "30", env=full, check=False)
    return res, time.monotonic() - t0


@pytest.mark.parametrize(
    "case,expected",
    [
        ("plaintext client to the TLS port", "speaks TLS: set TAGSTREAM_KAFKA_SECURITY_PROTOCOL=SSL"),
        ("TLS client that does not trust the broker", "does not trust"),
        ("TLS client without a client certificate", "client certificate"),
        ("TLS client to the plaintext port", "plaintext listener"),
    ],
)
def test_a_tls_mismatch_is_named_at_once(tls_kafka, case, expected):
    certs, tls_url = tls_kafka["certs"], tls_kafka["tls_url"]
    plain_url = tls_kafka["stack"].broker.url
    ssl = {"TAGSTREAM_KAFKA_SECURITY_PROTOCOL": "SSL", "TAGSTREAM_KAFKA_SSL_CAFILE": str(certs.ca)}
    client = {
        "TAGSTREAM_KAFKA_SSL_CERTFILE": str(certs.client_cert),
        "TAGSTREAM_KAFKA_SSL_KEYFILE": str(certs.client_key),
    }
    env = {
        "plaintext client to the TLS port": {"TAGSTREAM_BROKER_URL": tls_url},
        "TLS client that does not trust the broker": {
            "TAGSTREAM_BROKER_URL": tls_url,
            "TAGSTREAM_KAFKA_SECURITY_PROTOCOL": "SSL",
            **client,
        },
        "TLS client without a client certificate": {"TAGSTREAM_BROKER_URL": tls_url, **ssl},
        "TLS client to the plaintext port": {"TAGSTREAM_BROKER_URL": plain_url, **ssl, **client},
    }[case]
    res, seconds = _topics(env)
    lines = res.stderr.strip().splitlines()
    assert res.returncode != 0 and len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert expected in lines[0] and "is it running" not in lines[0], lines[0]
    assert seconds < 20, f"{case}: {seconds:.0f} s before the error (a mismatch is not worth waiting for)"
