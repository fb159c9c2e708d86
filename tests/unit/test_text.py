from tagstream.text import content_hash, model_text


def test_model_text_orders_fields_and_skips_empty_ones():
    text = model_text("  Puma  Men Shoes ", brand="Puma", description="Light and\nfast", attributes={"size": "9", "colour": "Black", "empty": " "})
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
    assert h1.startswith("v1-") and len(h1) == 3 + 32
