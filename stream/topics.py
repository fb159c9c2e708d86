"""Create the worker's topics (idempotent) with the Kafka admin API."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

log = logging.getLogger(__name__)


def bootstrap_servers(broker_url: str) -> str:
    """faust-style kafka://host:port[;kafka://host2:port] -> host:port,host2:port"""
    return ",".join(u.strip().removeprefix("kafka://") for u in broker_url.replace(",", ";").split(";") if u.strip())


async def ensure_topics(broker_url: str, topics: dict[str, int], timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(broker_url), request_timeout_ms=10_000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            new = [NewTopic(name, num_partitions=n, replication_factor=1) for name, n in topics.items() if name not in existing]
            if new:
                try:
                    await admin.create_topics(new)
                except TopicAlreadyExistsError:
                    pass
                log.info("created topics %s", [t.name for t in new])
            return
        except KafkaError as e:
            if asyncio.get_running_loop().time() > deadline:
                raise
            log.warning("broker not ready for topic creation (%s); retrying", e)
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
