"""The published contract (docs/schemas, docs/asyncapi.yaml) is generated from the event models and
stays in step with them."""

import json
from pathlib import Path

import jsonschema
import yaml

from tagstream import __version__
from tagstream.stream.contract import render
from tagstream.stream.events import DeadLetter, ProductUpdate, TagEvent, TagScore
from tests.conftest import tagstream

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_committed_contract_is_up_to_date():
    for name, text in render(__version__).items():
        assert (DOCS / name).read_text(encoding="utf-8") == text, f"docs/{name} is stale: run `tagstream contract`"
    res = tagstream("contract", "--out", str(DOCS), "--check")
    assert "up to date" in res.stdout


def test_check_fails_on_a_stale_contract(tmp_path):
    res = tagstream("contract", "--out", str(tmp_path), "--check", check=False)
    assert res.returncode == 2 and "out of date" in res.stderr and "asyncapi.yaml" in res.stderr


def test_messages_validate_against_the_published_schemas():
    schema = {
        name: json.loads((DOCS / "schemas" / name).read_text())
        for name in ("product-update.schema.json", "tag-event.schema.json", "dead-letter.schema.json")
    }
    event = {
        "event_id": "e1",
        "product_id": "p1",
        "title": "Red shirt",
        "updated_at": "2026-01-01T00:00:00Z",
        "attributes": {"size": "M"},
    }
    jsonschema.validate(event, schema["product-update.schema.json"])
    ProductUpdate.model_validate(event)
    tag_event = TagEvent(
        product_id="p1",
        source_event_id="e1",
        tags=[TagScore(tag="a", score=0.9)],
        model_name="m",
        model_version="3",
        content_hash="v2-x",
        cached=False,
    )
    jsonschema.validate(json.loads(tag_event.model_dump_json()), schema["tag-event.schema.json"])
    dead = DeadLetter.of("validate", "title too large", "in", 0, 5, b"k", b"{}")
    jsonschema.validate(json.loads(dead.model_dump_json()), schema["dead-letter.schema.json"])
    bad = dict(json.loads(dead.model_dump_json()), stage="elsewhere")
    try:
        jsonschema.validate(bad, schema["dead-letter.schema.json"])
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("an unknown stage must not validate")


def test_asyncapi_document_names_the_three_topics():
    doc = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {"product-updates", "product-tags", "product-tags.dlq"}
    for message in doc["components"]["messages"].values():
        ref = message["payload"].get("$ref")
        if ref:
            assert (DOCS / ref).is_file(), ref
