"""Kafka connection settings (bootstrap servers, SASL, SSL) shared by the worker and every client, and
creating the worker's topics (idempotent) with the Kafka admin API."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path
from typing import Any, Literal

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from pydantic import BaseModel, Field, SecretStr, model_validator

from tagstream.stream.errors import BrokerUnavailable

log = logging.getLogger(__name__)


def bootstrap_servers(broker_url: str) -> str:
    """faust-style kafka://host:port[;kafka://host2:port] -> host:port,host2:port"""
    return ",".join(u.strip().removeprefix("kafka://") for u in broker_url.replace(",", ";").split(";") if u.strip())


class KafkaConnection(BaseModel):
    """How to reach the brokers securely (each field one setting, TAGSTREAM_KAFKA_...)."""

    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password")
    kafka_ssl_cafile: Path | None = Field(None, description="CA certificate(s) to verify the brokers (PEM)")
    kafka_ssl_certfile: Path | None = Field(None, description="client certificate for mutual TLS (PEM)")
    kafka_ssl_keyfile: Path | None = Field(None, description="client key for mutual TLS (PEM)")

    @model_validator(mode="after")
    def _complete(self) -> KafkaConnection:
        if self.kafka_security_protocol.startswith("SASL") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(f"security protocol {self.kafka_security_protocol} needs a SASL username and password")
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("a client certificate needs its key, and a key its certificate")
        return self

    @property
    def uses_ssl(self) -> bool:
        return self.kafka_security_protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.uses_ssl:
            return None
        return create_ssl_context(
            cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None,
            certfile=str(self.kafka_ssl_certfile) if self.kafka_ssl_certfile else None,
            keyfile=str(self.kafka_ssl_keyfile) if self.kafka_ssl_keyfile else None,
        )

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        kwargs: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        if self.uses_ssl:
            kwargs["ssl_context"] = self.ssl_context()
        if self.kafka_security_protocol.startswith("SASL"):
            assert self.kafka_sasl_password is not None
            kwargs |= {
                "sasl_mechanism": self.kafka_sasl_mechanism,
                "sasl_plain_username": self.kafka_sasl_username,
                "sasl_plain_password": self.kafka_sasl_password.get_secret_value(),
            }
        return kwargs


PLAINTEXT = KafkaConnection()

#: pauses between tries while the broker does not answer (doubling from the first to the most)
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0


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
    try) until `timeout_s`, then `BrokerUnavailable`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pause = RETRY_FIRST_S
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
            left = deadline - loop.time()
            if left <= 0:
                raise BrokerUnavailable(
                    f"cannot reach the broker at {broker_url} within {timeout_s:.0f} s ({e}); is it running?"
                ) from None
            wait = min(pause, left)
            log.warning("broker not ready for topic creation (%s); retrying in %.1f s", e, wait)
            await asyncio.sleep(wait)
            pause = min(pause * 2, RETRY_MAX_S)
        finally:
            await admin.close()
