"""Worker settings, from `TAGSTREAM_*` environment variables (or a .env file).

Every field is one variable, `TAGSTREAM_<FIELD>` (e.g. `TAGSTREAM_BROKER_URL`); the event size limits
come from `EventLimits`. docs/configuration.md lists them.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tagstream.core.errors import ConfigError
from tagstream.core.names import MODEL_NAME
from tagstream.stream.event_loop import EventLoopChoice
from tagstream.stream.events import EventLimits
from tagstream.stream.kafka import KafkaConnection

ENV_PREFIX = "TAGSTREAM_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: settings whose value is never repeated in an error (a URL may hold a password)
SECRET_FIELDS = frozenset({"redis_url", "kafka_sasl_password"})


class WorkerSettings(EventLimits, KafkaConnection, BaseSettings):
    """The worker's settings; each field can be set as TAGSTREAM_<FIELD>."""

    # allow_inf_nan=False: every duration and rate is a finite number (1e999 is not "forever")
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True, allow_inf_nan=False
    )

    app_id: str = Field("tagstream-worker", description="Faust app id; also the consumer group")
    broker_url: str = Field(
        "kafka://127.0.0.1:9092", description="Kafka bootstrap, kafka://host:port[;kafka://host2:port]"
    )
    input_topic: str = Field("product-updates", description="topic of product-update events")
    output_topic: str = Field("product-tags", description="topic of tag events (keyed by product_id)")
    dlq_topic: str = Field("product-tags.dlq", description="topic of dead letters")
    topic_partitions: int = Field(4, ge=1, description="partitions of the input and tag topics, when created")
    topic_replication_factor: int = Field(1, ge=1, description="replicas of each topic, when created")
    create_topics: bool = Field(
        True, description="create missing topics at start; false where `tagstream topics` made them (production)"
    )

    batch_max: int = Field(32, ge=1, description="events per micro-batch (take max)")
    batch_wait_s: float = Field(0.2, gt=0, description="longest wait to fill a micro-batch (take within)")
    batches_in_flight: int = Field(
        2, ge=1, description="micro-batches processed at once; they are published and acked in order"
    )

    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"), description="Redis URL (rediss:// for TLS); may hold a password"
    )
    redis_password_file: Path | None = Field(
        None, description="file holding the Redis password (a secret file), for a TAGSTREAM_REDIS_URL without one"
    )
    redis_ssl_ca_certs: Path | None = Field(None, description="CA certificate(s) to verify Redis over TLS (PEM)")
    redis_ssl_certfile: Path | None = Field(None, description="client certificate for Redis mutual TLS (PEM)")
    redis_ssl_keyfile: Path | None = Field(None, description="client key for Redis mutual TLS (PEM)")
    cache_ttl_s: int = Field(7 * 24 * 3600, ge=1, description="lifetime of a cached result")
    redis_timeout_s: float = Field(0.5, gt=0, description="deadline of one Redis call")

    explain_top_words: int = Field(
        0,
        ge=0,
        le=10,
        description="attach each tag's top words (word occlusion: one extra scored text per word "
        "of an inferred event) to tag events; 0 = off",
    )
    triton_url: str = Field("127.0.0.1:8001", description="Triton gRPC host:port")
    triton_ssl: bool = Field(False, description="talk to Triton's gRPC endpoint over TLS")
    triton_ssl_root_certificates: Path | None = Field(None, description="CA certificate(s) to verify Triton (PEM)")
    triton_ssl_private_key: Path | None = Field(None, description="client key for Triton mutual TLS (PEM)")
    triton_ssl_certificate_chain: Path | None = Field(
        None, description="client certificate for Triton mutual TLS (PEM)"
    )
    model_name: str = Field(MODEL_NAME, description="model name in Triton")
    triton_timeout_s: float = Field(10.0, gt=0, description="deadline of one inference request")
    triton_request_items: int = Field(
        32, ge=1, description="texts per inference request; a micro-batch is split into concurrent requests"
    )
    triton_retries: int = Field(3, ge=0, description="client retries on timeout/unavailable")
    triton_pause_s: float = Field(2.0, gt=0, description="first pause before retrying a batch after the client gave up")
    version_check_s: float = Field(1.0, ge=0, description="how often to ask Triton which model version serves")

    producer_max_request_bytes: int = Field(
        1_048_576, ge=65_536, description="largest message the producer sends; dead letters are cut to fit it"
    )
    shutdown_grace_s: float = Field(
        10.0,
        ge=0,
        description="on SIGTERM, how long a batch in flight may take to finish before it is abandoned",
    )
    dlq_max_rate: float = Field(
        0.5,
        gt=0,
        le=1,
        description="stop the worker when more than this share of recent events were dead-lettered (1 = never)",
    )
    dlq_window: int = Field(500, ge=10, description="how many recent events the dead-letter rate is taken over")

    startup_timeout_s: float = Field(
        30.0,
        gt=0,
        description="at start, how long the broker, Redis and Triton may take to answer; then the worker exits "
        "naming the one that did not",
    )

    web_host: str = Field("127.0.0.1", description="address of the health and metrics endpoints")
    web_port: int = Field(6066, ge=1, le=65535, description="port of /healthz, /readyz and /metrics")
    session_timeout_s: float = Field(10.0, gt=0, description="consumer session timeout (short for Tansu)")
    heartbeat_s: float = Field(1.0, gt=0, description="consumer heartbeat interval")
    rebalance_timeout_s: float = Field(10.0, gt=0, description="consumer rebalance timeout")
    fetch_max_wait_ms: int = Field(100, ge=0, description="longest a consumer fetch waits at the broker for data")
    commit_interval_s: float = Field(1.0, gt=0, description="how often acknowledged offsets are committed")
    lag_poll_s: float = Field(
        5.0, gt=0, description="how often to ask the broker for the assigned partitions' end offsets (lag gauges)"
    )
    event_loop: EventLoopChoice = Field(
        "auto", description="event loop: uvloop, asyncio, or auto (uvloop where it is installed)"
    )
    log_level: str = Field("INFO", description="log level")
    log_json: bool = Field(True, description="JSON-lines logs")

    @field_validator("broker_url")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        """kafka://host:port[;kafka://host2:port], or host:port[,host2:port] as every Kafka client takes
        it (normalised to the kafka:// form Faust needs)."""
        servers = [u.strip() for u in value.replace(",", ";").split(";") if u.strip()]
        if not servers:
            raise ValueError("no broker: expected kafka://host:port or host:port")
        out = []
        for server in servers:
            url = server if "://" in server else f"kafka://{server}"
            parts = urlsplit(url)
            if parts.scheme != "kafka":
                raise ValueError(f"{server!r}: expected kafka://host:port or host:port")
            _host_and_port(parts, server)
            out.append(url)
        return ";".join(out)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value())  # errors never show the URL: it may hold a password
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError("expected redis://[:password@]host:port/db, rediss://... (TLS) or unix://path")
        if parts.scheme != "unix":
            _host_and_port(parts, f"{parts.scheme}://{parts.hostname or ''}")
        return value

    @field_validator("triton_url")
    @classmethod
    def _triton_url(cls, value: str) -> str:
        if "://" in value:
            raise ValueError("expected host:port of Triton's gRPC endpoint, without a scheme")
        _host_and_port(urlsplit(f"grpc://{value}"), value)
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
        return level

    @model_validator(mode="after")
    def _redis_password_once(self) -> WorkerSettings:
        if self.redis_password_file is not None and urlsplit(self.redis_url.get_secret_value()).password:
            raise ValueError(
                "the Redis password is set twice: in TAGSTREAM_REDIS_URL and TAGSTREAM_REDIS_PASSWORD_FILE"
            )
        return self

    @model_validator(mode="after")
    def _redis_tls(self) -> WorkerSettings:
        tls_files = (self.redis_ssl_ca_certs, self.redis_ssl_certfile, self.redis_ssl_keyfile)
        if any(tls_files) and not self.redis_url.get_secret_value().startswith("rediss://"):
            raise ValueError("Redis TLS files are set but TAGSTREAM_REDIS_URL is not a rediss:// URL")
        return self

    def redis_password(self) -> str | None:
        """The password from TAGSTREAM_REDIS_PASSWORD_FILE (its one line, without the line end), if set."""
        if self.redis_password_file is None:
            return None
        try:
            text = self.redis_password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"TAGSTREAM_REDIS_PASSWORD_FILE: cannot read {self.redis_password_file}: {e}") from None
        return text.rstrip("\r\n")

    def redis_tls_kwargs(self) -> dict[str, str]:
        """redis-py's TLS arguments for a rediss:// URL."""
        files = {
            "ssl_ca_certs": self.redis_ssl_ca_certs,
            "ssl_certfile": self.redis_ssl_certfile,
            "ssl_keyfile": self.redis_ssl_keyfile,
        }
        return {k: str(v) for k, v in files.items() if v is not None}

    def triton_tls_kwargs(self) -> dict[str, object]:
        """tritonclient's gRPC TLS arguments."""
        if not self.triton_ssl:
            return {}
        files = {
            "root_certificates": self.triton_ssl_root_certificates,
            "private_key": self.triton_ssl_private_key,
            "certificate_chain": self.triton_ssl_certificate_chain,
        }
        return {"ssl": True, **{k: str(v) for k, v in files.items() if v is not None}}


def _host_and_port(parts: SplitResult, shown: str) -> None:
    """A host and a port from 1 to 65535 in `parts`, else a ValueError showing `shown`."""
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{shown!r}: the port is not a number from 1 to 65535") from None
    if not parts.hostname or port is None or port == 0:
        raise ValueError(f"{shown!r}: expected a host and a port (host:port)")


#: `TAGSTREAM_` variables that are not worker settings, and who reads them.
OTHER_VARIABLES = {
    "TAGSTREAM_VERSION": "docker-compose: the tag of the project's images",
    "TAGSTREAM_LOCAL_BASE": "the compose tests: the local base image",
    "TAGSTREAM_COMPOSE_REPORT": "the compose tests: where to write their counts (JSON)",
    "TAGSTREAM_RELIABILITY_REPORT": "the reliability tests: where to write their counts (JSON)",
    "TAGSTREAM_BENCH_REUSE": "bench/methods.py: reuse finished training runs",
    "TAGSTREAM_DEVICE_NOTE": "bench/full_runs.py: the machine the runs were made on",
}
#: what other tools call some settings
_OTHER_NAMES = {
    "BATCH_SIZE": "batch_max",
    "BOOTSTRAP_SERVERS": "broker_url",
    "KAFKA_BOOTSTRAP_SERVERS": "broker_url",
    "KAFKA_URL": "broker_url",
    "REDIS_HOST": "redis_url",
    "REDIS_PASSWORD": "redis_password_file",
    "TRITON_HOST": "triton_url",
    "PORT": "web_port",
}


def _closest_setting(name: str) -> str:
    """The setting whose name is most like `name` (by letters and by words)."""
    key = name.upper().removeprefix(ENV_PREFIX)
    if key in _OTHER_NAMES:
        return _OTHER_NAMES[key]
    words = set(key.lower().split("_"))

    def likeness(field: str) -> float:
        fw = set(field.split("_"))
        return difflib.SequenceMatcher(None, key.lower(), field).ratio() + len(words & fw) / len(words | fw)

    return max(WorkerSettings.model_fields, key=likeness)


def unknown_variables(environ: Mapping[str, str | None]) -> list[str]:
    """The `TAGSTREAM_` names in `environ` that are neither a setting nor in `OTHER_VARIABLES`, each with
    the closest setting."""
    known = {f"{ENV_PREFIX}{f.upper()}" for f in WorkerSettings.model_fields} | set(OTHER_VARIABLES)
    return [
        f"{name} is not a setting; the closest is {ENV_PREFIX}{_closest_setting(name).upper()}"
        for name in sorted(environ)
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known
    ]


def load_settings() -> WorkerSettings:
    """The settings from the environment (and a .env file); an unknown `TAGSTREAM_` variable or a bad
    value is one line naming the variable."""
    dotenv = Path(".env")
    unknown = unknown_variables({**(dotenv_values(dotenv) if dotenv.is_file() else {}), **os.environ})
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise ConfigError(f"{unknown[0]}{more}; docs/configuration.md lists every setting")
    try:
        return WorkerSettings()
    except ValidationError as e:
        err = e.errors()[0]
        name = f"{ENV_PREFIX}{str(err['loc'][0]).upper()}" if err["loc"] else "settings"
        if not err["loc"]:  # a check across settings: its message says which
            raise ConfigError(f"settings: {err['msg'].removeprefix('Value error, ')}") from None
        shown = isinstance(err.get("input"), str | int | float) and err["loc"][0] not in SECRET_FIELDS
        got = f" (got {str(err['input'])[:80]!r})" if shown else ""
        raise ConfigError(f"{name}: {err['msg'].removeprefix('Value error, ')}{got}") from None
