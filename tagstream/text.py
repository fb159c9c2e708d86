"""The text the model reads, and its content hash.

This is a contract between the trainer (which builds training text from catalogue rows) and the
worker (which builds the same text from product-update events and uses its hash as a cache key).
The hash covers exactly what the model reads: a change to any other field (a price, a stock count)
keeps the hash, so the cached tags are reused with no inference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

#: Bump when the way text is built changes: old cache entries then stop matching.
TEXT_FORMAT_VERSION = 1


def _clean(value: object) -> str:
    return " ".join(str(value).split())


def attributes_as_strings(value: object) -> object:
    """Coerce an attribute map's keys and values to strings (None -> ""); anything that is not a map
    is returned unchanged for the caller's validation to reject. Used as a pydantic `before`
    validator by the trainer's rows and the worker's events alike."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    return value


def model_text(
    title: str,
    brand: str = "",
    description: str = "",
    attributes: Mapping[str, object] | None = None,
) -> str:
    """Build the model's input text: title, brand, attributes, then description.

    The description goes last because it is the longest part and the tokenizer truncates from the
    end. Attributes are sorted by key so that the text (and its hash) does not depend on map order.
    Whitespace is normalised; empty parts are left out.
    """
    parts = [_clean(title)]
    if brand and _clean(brand):
        parts.append(f"brand: {_clean(brand)}")
    if attributes:
        attrs = [f"{_clean(k)}: {_clean(v)}" for k, v in sorted(attributes.items()) if _clean(v)]
        if attrs:
            parts.append("; ".join(attrs))
    if description and _clean(description):
        parts.append(_clean(description))
    return " | ".join(p for p in parts if p)


def content_hash(text: str) -> str:
    """A stable hash of the model text (hex sha256, prefixed by the text format version)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"v{TEXT_FORMAT_VERSION}-{digest[:32]}"
