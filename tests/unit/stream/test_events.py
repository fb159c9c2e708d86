import base64
import json
from datetime import UTC

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from tagstream.stream.cache import cache_key
from tagstream.stream.events import (
    SCHEMA_VERSION,
    DeadLetter,
    EventLimits,
    ExtractedAttribute,
    ProductUpdate,
    TagEvent,
    TagEventData,
    tag_event_json,
    utcnow,
)

BASE = {"event_id": "e1", "product_id": "p1", "title": "Nike Shoes", "updated_at": "2026-01-01T00:00:00Z"}


def test_unknown_fields_ignored_and_text_matches_trainer():
    ev = ProductUpdate.model_validate(BASE | {"price": 10, "brand": "Nike", "attributes": {"size": 9}})
    assert ev.text == "Nike Shoes | brand: Nike | size: 9"
    assert ev.op == "upsert"


@pytest.mark.parametrize(
    "change,match",
    [
        ({"title": ""}, "visible characters"),
        ({"title": "\u200b\u200c\u200d\ufeff"}, "visible characters"),  # zero-width characters only
        ({"title": " \t\n"}, "visible characters"),
        ({"op": "explode"}, "op"),
        ({"updated_at": "yesterday"}, "updated_at"),
        ({"event_id": ""}, "event_id"),
        ({"attributes": ["a"]}, "attributes"),
        ({"attributes": {"a": {"nested": 1}}}, "nested value"),
        ({"title": "bad \ud800 surrogate"}, "title holds a lone surrogate"),
        ({"event_id": "e\udc00"}, r"event_id\n.*unicode"),  # pydantic-core refuses it on fields with a length limit
        ({"product_id": "\ud83d"}, r"product_id\n.*unicode"),
        ({"description": "x\udfff"}, "description holds a lone surrogate"),
        ({"brand": "\ud800"}, "brand holds a lone surrogate"),
        ({"category_hint": "\ud800"}, "category_hint holds a lone surrogate"),
        (
            {"title": "half \ud83d", "brand": "\ude00 half"},
            "title holds a lone surrogate",
        ),  # a pair split over two fields
        ({"attributes": {"k\udfff": "v"}}, "surrogate"),
        ({"title": 5}, "title"),
    ],
)
def test_invalid_events(change, match):
    with pytest.raises(ValidationError, match=match):
        ProductUpdate.model_validate(BASE | change)


def test_delete_needs_no_title():
    assert ProductUpdate.model_validate(BASE | {"op": "delete", "title": ""}).op == "delete"


def test_naive_updated_at_is_utc_so_it_compares_with_aware_ones():
    naive = ProductUpdate.model_validate(BASE | {"updated_at": "2026-01-01T12:00:00"})
    aware = ProductUpdate.model_validate(BASE | {"updated_at": "2026-01-01T13:00:00+02:00"})
    assert naive.updated_at.tzinfo == UTC
    assert aware.updated_at < naive.updated_at


@pytest.mark.parametrize(
    "field,limit",
    [("title", "max_title_chars"), ("brand", "max_brand_chars"), ("description", "max_description_chars")],
)
def test_size_limits_at_under_and_over(field, limit):
    limits = EventLimits(**{limit: 10})
    for size, ok in ((9, True), (10, True), (11, False)):
        event = BASE | {field: "x" * size}
        if ok:
            ProductUpdate.model_validate(event, context={"limits": limits})
        else:
            with pytest.raises(ValidationError, match=f"{field} too large: 11 > 10"):
                ProductUpdate.model_validate(event, context={"limits": limits})


def test_attribute_limits():
    limits = EventLimits(max_attributes=2, max_attribute_chars=5)
    ProductUpdate.model_validate(BASE | {"attributes": {"a": "1234", "b": "1"}}, context={"limits": limits})
    with pytest.raises(ValidationError, match="attributes too large: 3 > 2"):
        ProductUpdate.model_validate(BASE | {"attributes": {"a": "1", "b": "2", "c": "3"}}, context={"limits": limits})
    with pytest.raises(ValidationError, match="attribute 'a' too large: 6 > 5"):
        ProductUpdate.model_validate(BASE | {"attributes": {"a": "12345"}}, context={"limits": limits})


def test_unusual_but_valid_text_is_accepted():
    for title in (
        "红色连衣裙 女装",
        "فستان أحمر طويل",
        "<b>Red</b> dress &amp; belt",
        "Dress 👗🔥",
        "Ünïcödé ＦＵＬＬＷＩＤＴＨ",
    ):
        ev = ProductUpdate.model_validate(BASE | {"title": title})
        assert ev.text


def test_dead_letter_keeps_original_bytes_or_a_bounded_prefix():
    dl = DeadLetter.of("decode", "invalid JSON", "t", 2, 7, b"k", b"\xff{")
    obj = json.loads(dl.model_dump_json())
    assert base64.b64decode(obj["value_b64"]) == b"\xff{" and obj["partition"] == 2 and obj["stage"] == "decode"
    assert obj["value_size"] == 2 and obj["value_truncated"] is False and obj["schema_version"] == SCHEMA_VERSION
    cut = DeadLetter.of("decode", "too large", "t", 0, 1, None, b"x" * 100, max_value_bytes=10)
    assert base64.b64decode(cut.value_b64 or "") == b"x" * 10 and cut.value_truncated and cut.value_size == 100


def test_tag_event_carries_schema_version():
    ev = TagEvent(
        product_id="p", source_event_id="e", tags=[], model_name="m", model_version="1", content_hash="h", cached=False
    )
    assert json.loads(ev.model_dump_json())["schema_version"] == SCHEMA_VERSION


def test_cache_key_contract():
    assert cache_key("product_tagger", "3", "v1-abc") == "tag:product_tagger:3:v1-abc"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)


@given(
    st.dictionaries(
        st.sampled_from(
            ["event_id", "product_id", "op", "title", "brand", "attributes", "updated_at", "description", "extra"]
        ),
        json_values,
        max_size=9,
    )
)
def test_any_json_object_validates_or_fails_with_a_validation_error(obj):
    try:
        ev = ProductUpdate.model_validate(obj)
    except ValidationError:
        return
    assert ev.product_id and (ev.op == "delete" or ev.text)


@given(
    st.text(min_size=1, max_size=50).filter(lambda t: not any(0xD800 <= ord(c) <= 0xDFFF for c in t)),
    st.text(max_size=50).filter(lambda t: not any(0xD800 <= ord(c) <= 0xDFFF for c in t)),
    st.integers(min_value=1, max_value=10_000),
)
def test_cache_keys_follow_the_model_text_and_the_version(title, brand, version):
    from tagstream.core.text import content_hash, model_text

    text = model_text(title, brand)
    key = cache_key("m", str(version), content_hash(text))
    assert key == cache_key("m", str(version), content_hash(model_text(title, brand)))  # stable
    assert key != cache_key("m", str(version + 1), content_hash(text))  # a new version never hits
    other = model_text(title + " x", brand)
    assert other == text or key != cache_key("m", str(version), content_hash(other))


def test_batch_log_context_names_each_partition_range():
    from tagstream.stream.records import Record, batch_log_context

    recs = [Record("in", p, o, None, None) for p, o in ((2, 90), (0, 120), (0, 151), (2, 88))]
    assert batch_log_context(recs) == {"topic": "in", "offsets": "0:120-151 2:88-90", "events": 4}


def test_tag_event_data_mirrors_the_tag_event_field_for_field():
    assert list(TagEventData.__annotations__) == list(TagEvent.model_fields)


_names = st.text(min_size=1, max_size=12)  # any Unicode: quotes, backslashes, emoji, controls


@given(
    tags=st.lists(st.tuples(_names, st.floats(0, 1)), max_size=6),
    superseded=st.lists(_names, max_size=3),
    why=st.none() | st.dictionaries(_names, st.lists(st.tuples(_names, st.floats(-5, 5)), max_size=3), max_size=3),
    attributes=st.none()
    | st.lists(
        st.builds(
            ExtractedAttribute,
            key=_names,
            value=_names,
            start=st.integers(0, 99),
            end=st.integers(0, 99),
            score=st.floats(0, 1),
        ),
        max_size=2,
    ),
    cached=st.booleans(),
)
def test_tag_event_json_reads_back_as_the_validated_tag_event(tags, superseded, why, attributes, cached):
    data = {
        "schema_version": SCHEMA_VERSION,
        "product_id": 'p\u00e9"1',
        "source_event_id": "e1",
        "superseded_event_ids": superseded,
        "tags": [{"tag": t, "score": s} for t, s in tags],
        "model_name": "m",
        "model_version": "7",
        "content_hash": "v2-ab",
        "cached": cached,
        "explanations": None
        if why is None
        else {t: [{"word": w, "weight": x} for w, x in ws] for t, ws in why.items()},
        "attributes": attributes,
        "tagged_at": utcnow(),
    }
    value = tag_event_json(data)
    assert TagEvent.model_validate_json(value) == TagEvent.model_validate(data)
    assert value == TagEvent.model_validate(data).model_dump_json().encode()  # the same bytes as the model writes


def test_tag_event_json_refuses_a_value_of_the_wrong_type():
    event = TagEvent(
        product_id="p", source_event_id="e", tags=[], model_name="m", model_version="1", content_hash="h", cached=False
    )
    data = event.model_dump()
    data["tags"] = [{"tag": "x", "score": "0.5"}]  # a string where the contract has a number
    with pytest.raises(PydanticSerializationError):
        tag_event_json(data)
