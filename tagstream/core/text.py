"""The text the model reads, and its content hash.

This is a contract between the trainer (which builds training text from catalogue rows) and the
worker (which builds the same text from product-update events and uses its hash as a cache key).
The hash covers exactly what the model reads: a change to any other field (a price, a stock count)
keeps the hash, so the cached tags are reused with no inference.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping

#: Bump when the way text is built changes: old cache entries then stop matching.
#: 2: control and format characters (zero-width spaces, bidi marks, soft hyphens) are dropped.
TEXT_FORMAT_VERSION = 2

_DROPPED_CATEGORIES = frozenset({"Cc", "Cf"})


def clean_text(value: object) -> str:
    """The value as text with control and format characters dropped (zero-width spaces, bidi marks,
    soft hyphens, NUL...) and whitespace runs (any Unicode space, tabs, newlines) made one space."""
    text = str(value)
    if not text.isprintable():  # rare: only then look at each character
        text = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    return " ".join(text.split())


def invalid_unicode(value: str) -> bool:
    """True when the text holds a lone surrogate (JSON allows "\\ud800"; UTF-8 cannot encode it)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def attributes_as_strings(value: object) -> object:
    """Coerce an attribute map's keys and scalar values to strings (None -> ""); anything that is not
    a map is returned unchanged for the caller's validation to reject, and a nested value (a map or
    a list) raises ValueError. Used as a pydantic `before` validator by the trainer's rows and the
    worker's events alike."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        return value
    out: dict[str, str] = {}
    for k, v in value.items():
        if isinstance(v, dict | list):
            raise ValueError(f"attribute {str(k)[:40]!r} has a nested value: use a string or a number")
        out[str(k)] = "" if v is None else str(v)
    return out


def model_text(
    title: str,
    brand: str = "",
    description: str = "",
    attributes: Mapping[str, object] | None = None,
) -> str:
    """Build the model's input text: title, brand, attributes, then description.

    The description goes last because it is the longest part and the tokenizer truncates from the
    end. Attributes are sorted by key so that the text (and its hash) does not depend on map order.
    Text is cleaned (`clean_text`); empty parts are left out.
    """
    parts = [clean_text(title)]
    brand = clean_text(brand) if brand else ""
    if brand:
        parts.append(f"brand: {brand}")
    if attributes:
        cleaned = ((clean_text(k), clean_text(v)) for k, v in sorted(attributes.items()))
        attrs = [f"{k}: {v}" for k, v in cleaned if v]
        if attrs:
            parts.append("; ".join(attrs))
    description = clean_text(description) if description else ""
    if description:
        parts.append(description)
    return " | ".join(p for p in parts if p)


def content_hash(text: str) -> str:
    """A stable hash of the model text (hex sha256, prefixed by the text format version)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"v{TEXT_FORMAT_VERSION}-{digest[:32]}"
