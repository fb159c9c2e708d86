"""Worker settings, from `TAGSTREAM_*` environment variables (or a .env file)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    """Every field can be set as TAGSTREAM_<FIELD> (e.g. TAGSTREAM_BROKER_URL)."""

    model_config = SettingsConfigDict(env_prefix="TAGSTREAM_", env_file=".env", extra="ignore", frozen=True)

    app_id: str = Field("tagstream-worker", description="Faust app id; also the consumer group")
    broker_url: str = Field("kafka://127.0.0.1:9092", description="Kafka bootstrap, kafka://host:port[;kafka://host2:port]")
    input_topic: str = "product-updates"
    output_topic: str = "product-tags"
    dlq_topic: str = "product-tags.dlq"
    topic_partitions: int = Field(4, ge=1, description="partitions when the worker creates topics")

    batch_max: int = Field(32, ge=1, description="events per micro-batch (take max)")
    batch_wait_s: float = Field(0.2, gt=0, description="longest wait to fill a micro-batch (take within)")

    redis_url: SecretStr = Field(SecretStr("redis://127.0.0.1:6379/0"), description="Redis URL; may hold a password")
    cache_ttl_s: int = Field(7 * 24 * 3600, ge=1)
    redis_timeout_s: float = Field(0.5, gt=0)

    triton_url: str = Field("127.0.0.1:8001", description="Triton gRPC host:port")
    model_name: str = "product_tagger"
    triton_timeout_s: float = Field(10.0, gt=0, description="deadline of one inference request")
    triton_request_items: int = Field(16, ge=1, description="texts per inference request; a micro-batch is split into concurrent requests")
    triton_retries: int = Field(3, ge=0, description="client retries on timeout/unavailable")
    triton_pause_s: float = Field(2.0, gt=0, description="pause before retrying a batch after the client gave up")
    version_check_s: float = Field(1.0, ge=0, description="how often to ask Triton which model version serves")

    max_event_bytes: int = Field(1_000_000, ge=1)
    max_title_chars: int = Field(1_000, ge=1)
    max_description_chars: int = Field(20_000, ge=0)
    max_brand_chars: int = Field(200, ge=0)
    max_attributes: int = Field(100, ge=0)
    max_attribute_chars: int = Field(500, ge=1)

    web_host: str = "127.0.0.1"
    web_port: int = Field(6066, description="health (/healthz, /readyz) and Prometheus (/metrics) endpoints")
    session_timeout_s: float = Field(10.0, gt=0, description="consumer session timeout (short for Tansu)")
    heartbeat_s: float = Field(1.0, gt=0)
    rebalance_timeout_s: float = Field(10.0, gt=0)
    fetch_max_wait_ms: int = Field(100, ge=0, description="longest a consumer fetch waits at the broker for data")
    commit_interval_s: float = Field(1.0, gt=0)
    log_level: str = "INFO"
    log_json: bool = True
