"""The event contracts (see DESIGN.md): product updates in, tag events and dead letters out."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from tagstream.text import attributes_as_strings, model_text


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Limits(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_title_chars: int = 1_000
    max_description_chars: int = 20_000
    max_brand_chars: int = 200
    max_attributes: int = 100
    max_attribute_chars: int = 500


class ProductUpdate(BaseModel):
    """`product-updates` value. Unknown fields are ignored. Size limits come from the validation
    context (`{"limits": Limits}`), so they are settings, not constants."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: str = Field(min_length=1, max_length=200)
    product_id: str = Field(min_length=1, max_length=200)
    op: Literal["upsert", "delete"] = "upsert"
    title: str = ""
    description: str = ""
    brand: str = ""
    category_hint: str = ""
    attributes: dict[str, str] = Field(default_factory=dict)
    updated_at: datetime

    @field_validator("description", "brand", "category_hint", "title", mode="before")
    @classmethod
    def _none_is_empty(cls, v: object) -> object:
        return "" if v is None else v

    @field_validator("attributes", mode="before")
    @classmethod
    def _attributes_to_strings(cls, v: object) -> object:
        return attributes_as_strings(v)

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> "ProductUpdate":
        limits: Limits = (info.context or {}).get("limits") or Limits()
        if self.op == "upsert" and not self.title.strip():
            raise ValueError("an upsert needs a non-empty title")
        checks = (
            ("title", len(self.title), limits.max_title_chars),
            ("description", len(self.description), limits.max_description_chars),
            ("brand", len(self.brand), limits.max_brand_chars),
            ("attributes", len(self.attributes), limits.max_attributes),
        )
        for name, size, limit in checks:
            if size > limit:
                raise ValueError(f"{name} too large: {size} > {limit}")
        for k, v in self.attributes.items():
            if len(k) + len(v) > limits.max_attribute_chars:
                raise ValueError(f"attribute {k[:40]!r} too large: {len(k) + len(v)} > {limits.max_attribute_chars}")
        return self

    @property
    def text(self) -> str:
        """What the model reads (the same function the trainer uses)."""
        return model_text(self.title, self.brand, self.description, self.attributes)


class TagScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    tag: str
    score: float


class TagEvent(BaseModel):
    """`product-tags` value, keyed by product_id."""

    model_config = ConfigDict(frozen=True)

    product_id: str
    source_event_id: str
    tags: list[TagScore]
    model_name: str
    model_version: str
    content_hash: str
    cached: bool
    tagged_at: datetime = Field(default_factory=utcnow)


Stage = Literal["decode", "validate", "inference", "publish"]


class DeadLetter(BaseModel):
    """`product-tags.dlq` value: why an input could not be tagged, with the original bytes."""

    model_config = ConfigDict(frozen=True)

    stage: Stage
    error: str
    topic: str
    partition: int
    offset: int
    key_b64: str | None
    value_b64: str | None
    failed_at: datetime = Field(default_factory=utcnow)

    @classmethod
    def of(cls, stage: Stage, error: str, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> "DeadLetter":
        enc = lambda b: None if b is None else base64.b64encode(b).decode("ascii")  # noqa: E731
        return cls(stage=stage, error=error[:2000], topic=topic, partition=partition, offset=offset, key_b64=enc(key), value_b64=enc(value))
