import base64
import json

import pytest
from pydantic import ValidationError

from stream.cache import cache_key
from stream.events import DeadLetter, Limits, ProductUpdate
from stream.settings import WorkerSettings

BASE = {"event_id": "e1", "product_id": "p1", "title": "Nike Shoes", "updated_at": "2026-01-01T00:00:00Z"}


def test_unknown_fields_ignored_and_text_matches_trainer():
    ev = ProductUpdate.model_validate(BASE | {"price": 10, "brand": "Nike", "attributes": {"size": 9}})
    assert ev.text == "Nike Shoes | brand: Nike | size: 9"
    assert ev.op == "upsert"


@pytest.mark.parametrize("change,match", [
    ({"title": ""}, "non-empty title"),
    ({"op": "explode"}, "op"),
    ({"updated_at": "yesterday"}, "updated_at"),
    ({"event_id": ""}, "event_id"),
    ({"attributes": ["a"]}, "attributes"),
])
def test_invalid_events(change, match):
    with pytest.raises(ValidationError, match=match):
        ProductUpdate.model_validate(BASE | change)


def test_delete_needs_no_title():
    assert ProductUpdate.model_validate(BASE | {"op": "delete", "title": ""}).op == "delete"


def test_size_limits_come_from_context():
    limits = Limits(max_title_chars=5, max_attributes=1)
    with pytest.raises(ValidationError, match="title too large"):
        ProductUpdate.model_validate(BASE, context={"limits": limits})
    with pytest.raises(ValidationError, match="attributes too large"):
        ProductUpdate.model_validate(BASE | {"title": "a", "attributes": {"a": "1", "b": "2"}}, context={"limits": limits})


def test_dead_letter_keeps_original_bytes():
    dl = DeadLetter.of("decode", "invalid JSON", "t", 2, 7, b"k", b"\xff{")
    obj = json.loads(dl.model_dump_json())
    assert base64.b64decode(obj["value_b64"]) == b"\xff{" and obj["partition"] == 2 and obj["stage"] == "decode"


def test_cache_key_contract():
    assert cache_key("product_tagger", "3", "v1-abc") == "tag:product_tagger:3:v1-abc"


def test_settings_from_env(monkeypatch):
    monkeypatch.setenv("TAGSTREAM_BATCH_MAX", "7")
    monkeypatch.setenv("TAGSTREAM_REDIS_URL", "redis://:secret@host:6379/0")
    s = WorkerSettings()
    assert s.batch_max == 7
    assert "secret" not in repr(s) and s.redis_url.get_secret_value().endswith("@host:6379/0")
