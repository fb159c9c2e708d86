"""The published event contract: JSON Schemas of the three topics' messages, generated from the
pydantic models, and an AsyncAPI 3 document that ties them to the topics (`tagstream contract`
writes both to docs/; a test fails when the committed files are out of date)."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel

from tagstream.stream.events import SCHEMA_VERSION, DeadLetter, ProductUpdate, TagEvent
from tagstream.stream.settings import WorkerSettings

SCHEMAS: dict[str, type[BaseModel]] = {
    "product-update.schema.json": ProductUpdate,
    "tag-event.schema.json": TagEvent,
    "dead-letter.schema.json": DeadLetter,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema (draft 2020-12) of each message."""
    out = {}
    for name, model in SCHEMAS.items():
        mode: Literal["validation", "serialization"] = "validation" if model is ProductUpdate else "serialization"
        schema = model.model_json_schema(mode=mode)
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": name, **schema}
        out[name] = schema
    return out


def asyncapi(version: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document for the worker's three topics (their default names)."""
    s = WorkerSettings()
    key = {"type": "string", "description": "product_id"}

    def message(name: str, title: str, summary: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "title": title,
            "summary": summary,
            "contentType": "application/json",
            "payload": payload,
            "bindings": {"kafka": {"key": key, "bindingVersion": "0.5.0"}},
        }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "tagstream",
            "version": version,
            "description": (
                "Real-time product tagging. Product updates in, tag events and dead letters out. Topic names "
                "are settings (TAGSTREAM_INPUT_TOPIC, ...); tag events and dead letters carry schema_version "
                f"{SCHEMA_VERSION}."
            ),
        },
        "servers": {
            "kafka": {"host": "kafka:9092", "protocol": "kafka", "description": "Apache Kafka (TAGSTREAM_BROKER_URL)"}
        },
        "channels": {
            "productUpdates": {
                "address": s.input_topic,
                "description": "Product-update events, keyed by product_id.",
                "messages": {"productUpdate": {"$ref": "#/components/messages/productUpdate"}},
            },
            "productTags": {
                "address": s.output_topic,
                "description": (
                    "Tag events, keyed by product_id (compact this topic: the latest event per product is the "
                    "product's tags). A delete gives a tombstone. Every message has a source_event_id header."
                ),
                "messages": {
                    "tagEvent": {"$ref": "#/components/messages/tagEvent"},
                    "tombstone": {"$ref": "#/components/messages/tombstone"},
                },
            },
            "deadLetters": {
                "address": s.dlq_topic,
                "description": "Events that could not be tagged: the stage that failed, why, and the original bytes.",
                "messages": {"deadLetter": {"$ref": "#/components/messages/deadLetter"}},
            },
        },
        "operations": {
            "consumeProductUpdates": {"action": "receive", "channel": {"$ref": "#/channels/productUpdates"}},
            "publishTagEvents": {"action": "send", "channel": {"$ref": "#/channels/productTags"}},
            "publishDeadLetters": {"action": "send", "channel": {"$ref": "#/channels/deadLetters"}},
        },
        "components": {
            "messages": {
                "productUpdate": message(
                    "ProductUpdate",
                    "Product update",
                    "A product was created, changed or deleted.",
                    {"$ref": "./schemas/product-update.schema.json"},
                ),
                "tagEvent": message(
                    "TagEvent",
                    "Tag event",
                    "The tags of a product, from one model version.",
                    {"$ref": "./schemas/tag-event.schema.json"},
                ),
                "tombstone": message(
                    "Tombstone", "Tombstone", "The product was deleted (a null value).", {"type": "null"}
                ),
                "deadLetter": message(
                    "DeadLetter",
                    "Dead letter",
                    "An event that could not be tagged.",
                    {"$ref": "./schemas/dead-letter.schema.json"},
                ),
            }
        },
    }


def render(version: str) -> dict[str, str]:
    """Relative path -> file text, for docs/."""
    import yaml

    files = {f"schemas/{name}": json.dumps(schema, indent=2) + "\n" for name, schema in json_schemas().items()}
    files["asyncapi.yaml"] = "# Generated by `tagstream contract`; do not edit.\n" + yaml.safe_dump(
        asyncapi(version), sort_keys=False, allow_unicode=True, width=110
    )
    return files
