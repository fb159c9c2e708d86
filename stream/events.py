"""The event contracts: product updates in, tag events and dead letters out (docs/architecture.md).

- `product-updates` (key = product_id): `ProductUpdate`. Unknown fields are ignored; size limits
  are settings (`EventLimits`, part of the worker's settings).
- `product-tags` (key = product_id): `TagEvent`, or a tombstone (null value) for a delete.
- `product-tags.dlq`: `DeadLetter`, with the stage that failed and the original bytes.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from operator import attrgetter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationInfo, field_validator, model_validator
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from tagstream.core.text import attributes_as_strings, clean_text, invalid_unicode, model_text

#: Bumped on every change of the layout of tag events or dead letters; readers of an older version
#: keep working (fields are only added). 2: tag events carry `attributes` (extracted from the text).
SCHEMA_VERSION = 2


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventLimits(BaseModel):
    """Size limits of one product-update event (each one a worker setting, TAGSTREAM_MAX_...)."""

    max_event_bytes: int = Field(1_000_000, ge=1, description="largest event value accepted, in bytes")
    max_title_chars: int = Field(1_000, ge=1, description="longest title accepted")
    max_description_chars: int = Field(20_000, ge=0, description="longest description accepted")
    max_brand_chars: int = Field(200, ge=0, description="longest brand accepted")
    max_attributes: int = Field(100, ge=0, description="most attributes accepted")
    max_attribute_chars: int = Field(500, ge=1, description="longest attribute (key + value) accepted")


_TEXT_FIELDS = ("title", "description", "brand", "category_hint")
_STRING_FIELDS = ("event_id", "product_id", *_TEXT_FIELDS)
_string_fields = attrgetter(*_STRING_FIELDS)  # their values, in one call


class ProductUpdate(BaseModel):
    """`product-updates` value. Unknown fields are ignored. Size limits come from the validation
    context (`{"limits": EventLimits}`), so they are settings, not constants. A naive `updated_at`
    is taken as UTC."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: str = Field(min_length=1, max_length=200, description="unique id of this event")
    product_id: str = Field(min_length=1, max_length=200, description="the product; also the message key")
    op: Literal["upsert", "delete"] = Field("upsert", description="upsert (create or change) or delete")
    title: str = Field("", description="required for an upsert: it must have visible characters")
    description: str = Field("", description="free text; the model reads it after the title")
    brand: str = Field("", description="brand name")
    category_hint: str = Field("", description="the seller's category, if any (not read by the model)")
    attributes: dict[str, str] = Field(
        default_factory=dict,
        description="name -> value; numbers and booleans become strings, nested values are refused",
    )
    updated_at: datetime = Field(description="when the product changed (ISO 8601; without a zone: UTC)")

    @field_validator(*_TEXT_FIELDS, mode="before")
    @classmethod
    def _none_is_empty(cls, v: object) -> object:
        return "" if v is None else v

    @field_validator("attributes", mode="before")
    @classmethod
    def _attributes_to_strings(cls, v: object) -> object:
        return attributes_as_strings(v)

    @field_validator("updated_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return v if v.tzinfo is not None else v.replace(tzinfo=UTC)

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> ProductUpdate:
        # one check of every string field (a lone surrogate is rare; only then say which): one call
        # per event instead of a validator per field
        strings = _string_fields(self)
        if invalid_unicode("".join(strings)):
            name = next(n for n, v in zip(_STRING_FIELDS, strings, strict=True) if invalid_unicode(v))
            raise ValueError(f"{name} holds a lone surrogate (not valid Unicode)")
        limits: EventLimits = (info.context or {}).get("limits") or EventLimits()
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
            if invalid_unicode(k) or invalid_unicode(v):
                raise ValueError(f"attribute {k[:40]!r} holds a lone surrogate (not valid Unicode)")
        if self.op == "upsert" and not clean_text(self.title):
            raise ValueError("an upsert needs a title with visible characters")
        return self

    @property
    def text(self) -> str:
        """What the model reads (the same function the trainer uses)."""
        return model_text(self.title, self.brand, self.description, self.attributes)


class TagScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    tag: str = Field(description="the tag")
    score: float = Field(description="the model's score, at or above the tag's threshold")


class WordWeight(BaseModel):
    model_config = ConfigDict(frozen=True)

    word: str = Field(description="a word of the model text")
    weight: float = Field(description="how much the tag's score drops without this word")


class ExtractedAttribute(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str = Field(description="the attribute, e.g. colour")
    value: str = Field(description="its value as written in the text (it may be one no tag names)")
    start: int = Field(description="character offset of the value in the model text")
    end: int = Field(description="character offset just past the value")
    score: float = Field(description="the extractor's confidence (mean token probability)")


#: validates attributes that come from Triton or from the cache
ATTRIBUTE_LIST = TypeAdapter(list[ExtractedAttribute])


class TagEvent(BaseModel):
    """`product-tags` value, keyed by product_id. Idempotent: a replay carries the same product,
    model version and source event id. `superseded_event_ids` lists the events for this product
    in the same micro-batch that this one replaced (the latest by `updated_at` wins)."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = Field(SCHEMA_VERSION, description="version of this message's layout")
    product_id: str = Field(description="the product; also the message key")
    source_event_id: str = Field(description="the product-update event these tags answer")
    superseded_event_ids: list[str] = Field(
        default_factory=list, description="events for the product in the same micro-batch that this one replaced"
    )
    tags: list[TagScore] = Field(description="the tags, highest score first")
    model_name: str = Field(description="the model in Triton")
    model_version: str = Field(description="the model version that tagged it")
    content_hash: str = Field(description="hash of the text the model read (the cache key's content part)")
    cached: bool = Field(description="served from the cache, without inference")
    explanations: dict[str, list[WordWeight]] | None = Field(
        None, description="per tag, the words it rests on (only with TAGSTREAM_EXPLAIN_TOP_WORDS)"
    )
    attributes: list[ExtractedAttribute] | None = Field(
        None,
        description="attribute values read out of the text (from a model version that extracts them; "
        "offsets into the model text)",
    )
    tagged_at: datetime = Field(default_factory=utcnow, description="when the worker made this event")


class _TagScoreData(TypedDict):
    tag: str
    score: float


class _WordWeightData(TypedDict):
    word: str
    weight: float


class TagEventData(TypedDict):
    """A `TagEvent` as plain data, field for field and in the same order (a unit test holds them
    equal): what the worker builds per tag event, from values it already validated."""

    schema_version: int
    product_id: str
    source_event_id: str
    superseded_event_ids: list[str]
    tags: list[_TagScoreData]
    model_name: str
    model_version: str
    content_hash: str
    cached: bool
    explanations: dict[str, list[_WordWeightData]] | None
    attributes: list[ExtractedAttribute] | None
    tagged_at: datetime


_TAG_EVENT_DATA = TypeAdapter(TagEventData)


def tag_event_json(data: TagEventData) -> bytes:
    """The tag event's JSON, serialised by pydantic-core as `TagEvent.model_dump_json` does, without
    building the model: its parts come from a validated event, validated cache entries or the model's
    decoded scores, so validating them again only made a `TagScore` per tag (measured: half the CPU of
    building and serialising a `TagEvent`). A value of the wrong type raises (`warnings="error"`)
    instead of being written."""
    return _TAG_EVENT_DATA.dump_json(data, warnings="error")


Stage = Literal["decode", "validate", "inference", "publish"]


class DeadLetter(BaseModel):
    """`product-tags.dlq` value: why an input could not be tagged, where it came from, and its
    original bytes (base64). An original too large to publish whole keeps a prefix:
    `value_truncated` is then true and `value_size` gives the original size."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = Field(SCHEMA_VERSION, description="version of this message's layout")
    stage: Stage = Field(description="where it failed: decode, validate, inference or publish")
    error: str = Field(description="why, in words")
    topic: str = Field(description="the original's topic")
    partition: int = Field(description="the original's partition")
    offset: int = Field(description="the original's offset")
    key_b64: str | None = Field(description="the original key (base64; at most 1 KiB)")
    value_b64: str | None = Field(description="the original value (base64), or a prefix of it when truncated")
    value_size: int | None = Field(None, description="the original value's size in bytes")
    value_truncated: bool = Field(False, description="the value is a prefix: the original was too large to keep")
    superseded_event_ids: list[str] = Field(
        default_factory=list, description="events this one had replaced (they are answered by this dead letter)"
    )
    failed_at: datetime = Field(default_factory=utcnow, description="when it failed")

    @classmethod
    def of(
        cls,
        stage: Stage,
        error: str,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        *,
        max_value_bytes: int | None = None,
        superseded_event_ids: tuple[str, ...] = (),
    ) -> DeadLetter:
        """A dead letter; with `max_value_bytes`, the original value is cut to that many bytes."""

        def b64(b: bytes | None) -> str | None:
            return None if b is None else base64.b64encode(b).decode("ascii")

        kept = value
        if value is not None and max_value_bytes is not None and len(value) > max_value_bytes:
            kept = value[:max_value_bytes]
        return cls(
            stage=stage,
            error=error[:2000],
            topic=topic,
            partition=partition,
            offset=offset,
            key_b64=b64(key[:1024] if key is not None else None),
            value_b64=b64(kept),
            value_size=None if value is None else len(value),
            value_truncated=kept is not value,
            superseded_event_ids=list(superseded_event_ids),
        )
