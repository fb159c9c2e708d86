import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagstream.core.text import (
    TEXT_FORMAT_VERSION,
    attributes_as_strings,
    clean_text,
    content_hash,
    invalid_unicode,
    model_text,
)


def test_model_text_orders_fields_and_skips_empty_ones():
    text = model_text(
        "  Puma  Men Shoes ",
        brand="Puma",
        description="Light and\nfast",
        attributes={"size": "9", "colour": "Black", "empty": " "},
    )
    assert text == "Puma Men Shoes | brand: Puma | colour: Black; size: 9 | Light and fast"
    assert model_text("Shirt") == "Shirt"


def test_attribute_order_does_not_change_text_or_hash():
    a = model_text("Shirt", attributes={"a": "1", "b": "2"})
    b = model_text("Shirt", attributes={"b": "2", "a": "1"})
    assert a == b and content_hash(a) == content_hash(b)


def test_hash_changes_with_model_text_only():
    h1 = content_hash(model_text("Shirt", brand="X"))
    assert h1 == content_hash(model_text("Shirt", brand="X"))
    assert h1 != content_hash(model_text("Shirt", brand="Y"))
    assert h1.startswith(f"v{TEXT_FORMAT_VERSION}-") and len(h1) == len(f"v{TEXT_FORMAT_VERSION}-") + 32


@pytest.mark.parametrize(
    "raw,clean",
    [
        ("\u200b\u200b", ""),  # zero-width spaces only
        ("Red\u200bShirt", "RedShirt"),
        ("a\x00b\x07c", "abc"),  # control characters
        ("\u202eevil\u202c", "evil"),  # bidi overrides
        ("soft\u00adhyphen", "softhyphen"),
        ("tab\tand\u00a0nbsp\u3000ideographic space", "tab and nbsp ideographic space"),
        ("红色连衣裙 👗", "红色连衣裙 👗"),  # CJK and emoji stay
        ("فستان أحمر", "فستان أحمر"),  # right-to-left text stays
    ],
)
def test_clean_text_drops_control_and_format_characters(raw, clean):
    assert clean_text(raw) == clean


def test_invalid_unicode_finds_lone_surrogates():
    assert invalid_unicode("ok \ud800 no") and not invalid_unicode("ok 😀")


def test_attributes_as_strings():
    assert attributes_as_strings({"w": 120, "x": None, 3: True}) == {"w": "120", "x": "", "3": "True"}
    assert attributes_as_strings(None) == {}
    assert attributes_as_strings(["a"]) == ["a"]  # left for validation to reject
    with pytest.raises(ValueError, match="nested value"):
        attributes_as_strings({"a": {"b": 1}})


@given(
    title=st.text(max_size=200),
    brand=st.text(max_size=50),
    description=st.text(max_size=300),
    attributes=st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=5),
)
def test_model_text_and_hash_never_fail_on_valid_unicode(title, brand, description, attributes):
    text = model_text(title, brand, description, attributes)
    assert text == clean_text(text)  # already clean: cleaning is idempotent on the result
    if not any(invalid_unicode(s) for s in (title, brand, description, *attributes, *attributes.values())):
        assert content_hash(text).startswith(f"v{TEXT_FORMAT_VERSION}-")
