"""Secured transports the embedded stack can run: Redis with a password over mutual TLS, and Triton's
gRPC endpoint over mutual TLS; the worker tags through both, and no secret shows in what it writes.
(Kafka SASL/SSL is not run here: Tansu 0.6.0, the embedded broker, rejects --cert with --key and
cannot create SASL users once --authentication is on; tests/unit/stream/test_kafka.py checks how the
settings reach the Kafka clients.)"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from tagstream.core.names import MODEL_NAME
from tagstream.localstack.errors import StackError
from tagstream.localstack.process import RedisServer, TlsFiles
from tagstream.localstack.stack import LocalStack
from tagstream.localstack.triton import TritonServer
from tagstream.stream.errors import ModelUnavailable
from tagstream.stream.triton_client import TritonInference
from tagstream.trainer.export import export_model
from tests.integration.test_streaming import event, wait_for
from tests.tls import make_certs

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PASSWORD = "pw-" + uuid.uuid4().hex  # a secret that must never show up


@pytest.fixture(scope="module")
def secured(tiny_model, tmp_path_factory):
    work = tmp_path_factory.mktemp("secured")
    certs = make_certs(work / "certs")
    repo = work / "repo"
    export_model(tiny_model, repo)
    stack = LocalStack(work, repo)
    server_tls = TlsFiles(certs.server_cert, certs.server_key, certs.ca)
    stack.redis = RedisServer(work, password=PASSWORD, tls=server_tls)
    stack.triton = TritonServer(repo, work / "triton", load_models=(MODEL_NAME,), grpc_tls=server_tls)
    stack.start()
    tls_settings = {
        "redis_ssl_ca_certs": certs.ca,
        "redis_ssl_certfile": certs.client_cert,
        "redis_ssl_keyfile": certs.client_key,
        "triton_ssl": True,
        "triton_ssl_root_certificates": certs.ca,
        "triton_ssl_private_key": certs.client_key,
        "triton_ssl_certificate_chain": certs.client_cert,
    }
    yield {"stack": stack, "certs": certs, "tls": tls_settings}
    stack.stop()


def send(stack, events):
    from tagstream.clients.producer import produce

    asyncio.run(produce(stack.broker.url, stack.input_topic, events))


def test_worker_tags_through_tls_redis_and_tls_triton_and_leaks_no_secret(secured):
    stack = secured["stack"]
    assert stack.redis.url.startswith(f"rediss://:{PASSWORD}@")
    worker = stack.start_worker("secured", app_id="tagstream-secured", batch_wait_s=0.1, **secured["tls"])
    ready = worker.readiness()
    assert ready["triton"] is True and ready["redis"] is True, ready
    run = uuid.uuid4().hex[:6]
    titles = [f"Secured product {run} Nike Men Black Running Shoes {i}" for i in range(5)]
    system = {"broker": stack.broker}
    send(stack, [event(f"{run}-{i}", t) for i, t in enumerate(titles)])
    first = wait_for(system, stack.output_topic, lambda r: r.key and r.key.startswith(run), 5)
    assert len(first) == 5 and not any(r.value["cached"] for r in first)
    again = [event(f"{run}-{i}", t) for i, t in enumerate(titles)]
    ids = {json.loads(e.value)["event_id"] for e in again}
    send(stack, again)
    second = wait_for(
        system, stack.output_topic, lambda r: r.value is not None and r.value["source_event_id"] in ids, 5
    )
    assert len(second) == 5 and all(r.value["cached"] for r in second)  # Redis over TLS, with the password
    assert worker.metric("tagstream_cache_errors_total") == 0

    # a wrong password is a setting to fix: the worker does not start, says so in one line at once (no
    # waiting for a server that answers), and writes neither password
    wrong = "wrong-" + uuid.uuid4().hex
    bad_url = stack.redis.url.replace(PASSWORD, wrong)
    t0 = time.monotonic()
    with pytest.raises(StackError, match="exited with code 2"):
        stack.start_worker("wrong-password", app_id="tagstream-secured-2", redis_url=bad_url, **secured["tls"])
    w2 = stack.workers[-1]
    assert time.monotonic() - t0 < 20
    errors = [line for line in w2.log_tail().splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "refused the password" in errors[0] and "TAGSTREAM_REDIS_URL" in errors[0], errors
    for w in (worker, w2):
        written = w.log_tail(10_000_000) + json.dumps(w.readiness()) + w.get("/metrics")[1] + w.get("/healthz")[1]
        assert PASSWORD not in written and wrong not in written


def test_triton_tls_refuses_a_plain_client_and_serves_a_tls_one(secured):
    stack, certs = secured["stack"], secured["certs"]

    async def go(**tls):
        async with TritonInference(
            stack.triton.grpc_url, MODEL_NAME, timeout_s=5, retries=0, version_check_s=1, **tls
        ) as c:
            return await c.infer(["Red cotton shirt"])

    assert (
        asyncio.run(
            go(
                ssl=True,
                root_certificates=str(certs.ca),
                private_key=str(certs.client_key),
                certificate_chain=str(certs.client_cert),
            )
        ).scores.shape[0]
        == 1
    )
    with pytest.raises(ModelUnavailable):
        asyncio.run(go())
