"""Kafka connection settings (bootstrap servers, SASL, SSL) shared by the worker and every client."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context
from pydantic import BaseModel, Field, SecretStr, model_validator

from tagstream.core.errors import ConfigError


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
        """The TLS context of the settings' files; a file that cannot be read or is no PEM certificate
        or key is a ConfigError naming its variable."""
        if not self.uses_ssl:
            return None
        files = {
            "TAGSTREAM_KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
            "TAGSTREAM_KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
            "TAGSTREAM_KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile,
        }
        for name, path in files.items():
            if path is not None:
                try:
                    path.read_bytes()
                except OSError as e:
                    raise ConfigError(f"{name}: cannot read {path} ({e.strerror or e})") from None
        try:
            return create_ssl_context(
                cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None,
                certfile=str(self.kafka_ssl_certfile) if self.kafka_ssl_certfile else None,
                keyfile=str(self.kafka_ssl_keyfile) if self.kafka_ssl_keyfile else None,
            )
        except ssl.SSLError as e:
            named = ", ".join(name for name, path in files.items() if path is not None)
            raise ConfigError(f"{named}: not a usable PEM certificate or key ({e.reason or e})") from None

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
