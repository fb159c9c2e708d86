"""The worker's three topics and how they are kept, declared once: `tagstream topics` creates them in
production (the compose file's one-shot `topics` service), and a worker with TAGSTREAM_CREATE_TOPICS
creates the missing ones at start (the embedded stack, the demo, the tests)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from tagstream.stream.broker_check import diagnose_broker
from tagstream.stream.errors import BrokerUnreachable
from tagstream.stream.kafka import PLAINTEXT, KafkaConnection, bootstrap_servers
from tagstream.stream.retry import Backoff
from tagstream.stream.settings import WorkerSettings

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000
INPUT_RETENTION_MS = 7 * DAY_MS
DLQ_RETENTION_MS = 30 * DAY_MS


async def ensure_topics(
    broker_url: str,
    topics: dict[str, int],
    *,
    connection: KafkaConnection = PLAINTEXT,
    replication_factor: int = 1,
    configs: dict[str, dict[str, str]] | None = None,
    timeout_s: float = 30.0,
) -> None:
    """Create the topics that do not exist yet (name -> partitions), with per-topic configs. A broker
    that does not answer is tried again with a growing pause (0.5 s doubling to 5 s, one warning per
    try) until `timeout_s`, then `BrokerUnreachable`; a TLS or plaintext mismatch (`diagnose_broker`)
    is that error at once, naming the setting to fix."""
    backoff = Backoff(timeout_s)
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers(broker_url), request_timeout_ms=10_000, **connection.client_kwargs()
        )
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            new = [
                NewTopic(
                    name,
                    num_partitions=n,
                    replication_factor=replication_factor,
                    topic_configs=(configs or {}).get(name, {}),
                )
                for name, n in topics.items()
                if name not in existing
            ]
            if new:
                try:
                    await admin.create_topics(new)
                except TopicAlreadyExistsError:
                    pass
                log.info("created topics %s", [t.name for t in new])
            return
        except KafkaError as e:
            diagnosis = await diagnose_broker(broker_url, connection)
            if diagnosis.permanent:  # a TLS or plaintext mismatch: no wait will mend it
                raise BrokerUnreachable(diagnosis.message) from None
            if backoff.expired():
                raise BrokerUnreachable(f"{diagnosis.message} (tried for {timeout_s:.0f} s: {e})") from None
            log.info("broker not ready for topic creation (%s); retrying in %.1f s", e, backoff.next_pause())
            await backoff.sleep()
        finally:
            await admin.close()


@dataclass(frozen=True)
class TopicSpec:
    partitions: int
    configs: dict[str, str]


def topic_layout(s: WorkerSettings) -> dict[str, TopicSpec]:
    """Input and tag topics with TAGSTREAM_TOPIC_PARTITIONS partitions; the tag topic is compacted (the
    latest tag event per product is the product's tags, a tombstone removes it); product updates are
    kept 7 days and dead letters 30 days (one partition: they are few, and read in order)."""
    return {
        s.input_topic: TopicSpec(s.topic_partitions, {"retention.ms": str(INPUT_RETENTION_MS)}),
        s.output_topic: TopicSpec(s.topic_partitions, {"cleanup.policy": "compact"}),
        s.dlq_topic: TopicSpec(1, {"retention.ms": str(DLQ_RETENTION_MS)}),
    }


async def create_topics(s: WorkerSettings, timeout_s: float) -> None:
    """Create the topics of `topic_layout` that do not exist yet (existing ones are left as they are)."""
    layout = topic_layout(s)
    await ensure_topics(
        s.broker_url,
        {name: spec.partitions for name, spec in layout.items()},
        connection=s,
        replication_factor=s.topic_replication_factor,
        configs={name: spec.configs for name, spec in layout.items()},
        timeout_s=timeout_s,
    )
