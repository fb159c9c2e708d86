"""The Faust app on the worker's broker, transport and producer, built from the settings: the worker
and the benchmark's forward-only app (bench/) both run on it, so the benchmark measures the worker's
own Kafka path."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import faust
from faust.auth import SASLCredentials, SSLCredentials
from faust.types import ProducerT
from faust.types.auth import CredentialsT, SASLMechanism

from tagstream.stream.faust_transport import consumer_url
from tagstream.stream.settings import WorkerSettings


def data_dir(app_id: str) -> Path:
    """Where a Faust app keeps its data directory (empty: the tables are in memory): a new temporary
    directory of this process, removed when it exits (not in the working directory, and not left
    behind by every run)."""
    path = Path(tempfile.mkdtemp(prefix=f"tagstream-{app_id[:40]}-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def broker_credentials(s: WorkerSettings) -> CredentialsT | None:
    """The Kafka settings as faust credentials (None: plaintext)."""
    if s.kafka_security_protocol == "SSL":
        return SSLCredentials(s.ssl_context())
    if s.kafka_security_protocol.startswith("SASL"):
        assert s.kafka_sasl_password is not None
        return SASLCredentials(
            username=s.kafka_sasl_username,
            password=s.kafka_sasl_password.get_secret_value(),
            ssl_context=s.ssl_context(),
            mechanism=SASLMechanism(s.kafka_sasl_mechanism),
        )
    return None


def faust_app(
    s: WorkerSettings, app_id: str, app_class: type[faust.App] = faust.App, *, web_enabled: bool, **extra: Any
) -> faust.App:
    """A Faust app on the worker's broker, transport, timeouts, producer and data directory, from the
    settings; `extra` are further Faust settings (the web server's)."""
    app = app_class(
        app_id,
        broker=s.broker_url,
        broker_consumer=consumer_url(s.broker_url),
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        # faust keeps a data directory even with in-memory tables: not in the working directory
        datadir=str(data_dir(app_id)),
        web_enabled=web_enabled,
        broker_session_timeout=s.session_timeout_s,
        broker_heartbeat_interval=s.heartbeat_s,
        broker_rebalance_timeout=s.rebalance_timeout_s,
        broker_commit_interval=s.commit_interval_s,
        consumer_auto_offset_reset="earliest",
        topic_partitions=s.topic_partitions,
        topic_allow_declare=True,
        producer_acks=-1,
        producer_max_request_size=s.producer_max_request_bytes,
        broker_credentials=broker_credentials(s),
        # our acks mark finished batches only: on stop, commit those and do not wait for the
        # batch in flight (it is drained or abandoned first, see TaggerWorker.drain)
        stream_wait_empty=False,
        **extra,
    )
    app.fetch_max_wait_ms = s.fetch_max_wait_ms  # type: ignore[attr-defined]  # read by faust_transport
    return app


def raw_topic(app: faust.App, name: str) -> faust.TopicT:
    """The input topic with keys and values as bytes: the worker decodes and validates them itself."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


async def started_producer(app: faust.App) -> ProducerT:
    """The app's producer, started if it is not yet; never yields to the event loop once started, so
    the messages of a batch sent in a row share produce requests. Not `app.maybe_start_producer()`: it
    is wrapped in a stampede guard that yields to the event loop on every call, so the producer's
    sender sent each message of a batch in its own request (measured: 7 produce requests per 32-event
    batch instead of under one)."""
    producer = app.producer
    await producer.maybe_start()
    return producer
