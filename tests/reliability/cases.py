"""Malformed and unusual product-update events, each with the outcome the worker must give it.

`expect` is "tag" (tagged, or superseded by a later event for the same product in its batch),
"tombstone", or "dead:<stage>" (a dead letter from that stage, whose reason holds `reason`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from tagstream.clients.producer import OutEvent

TS = "2026-03-01T10:00:00Z"
MAX_EVENT_BYTES = 1_000_000  # the worker's default TAGSTREAM_MAX_EVENT_BYTES


@dataclass(frozen=True)
class Case:
    label: str
    key: bytes | None
    value: bytes | None
    expect: str
    reason: str = ""
    event_id: str | None = None


def _body(eid: str, pid: str, **fields: object) -> dict[str, object]:
    return {
        "event_id": eid,
        "product_id": pid,
        "title": "Roadster Men Navy Blue Checked Casual Shirt",
        "updated_at": TS,
    } | fields


def _ok(label: str, **fields: object) -> Case:
    eid = f"u-{label}"
    body = _body(eid, f"p-{label}", **fields)
    return Case(label, f"p-{label}".encode(), json.dumps(body, ensure_ascii=False).encode(), "tag", event_id=eid)


def _bad(label: str, stage: str, reason: str, value: bytes | None, key: bytes | None = None) -> Case:
    return Case(label, key if key is not None else f"p-{label}".encode(), value, f"dead:{stage}", reason)


def _bad_json(label: str, reason: str, drop: tuple[str, ...] = (), **fields: object) -> Case:
    body = {k: v for k, v in _body(f"b-{label}", f"p-{label}", **fields).items() if k not in drop}
    return _bad(label, "validate", reason, json.dumps(body, ensure_ascii=True).encode())


def _padded(label: str, size: int) -> bytes:
    body = json.dumps(_body(f"u-{label}", f"p-{label}", pad="")).encode()
    return body[:-2] + b"x" * (size - len(body)) + body[-2:]


def malformed() -> list[Case]:
    """44 kinds of events that must each become a dead letter, and nothing else."""
    valid = json.dumps(_body("b-x", "p-x")).encode()
    return [
        _bad("not-json", "decode", "invalid JSON", b"{this is not json"),
        _bad("truncated-json", "decode", "invalid JSON", valid[:-5]),
        _bad("invalid-utf8", "decode", "invalid JSON", b'{"title": "\xff\xfe bad bytes"}'),
        _bad("latin1-bytes", "decode", "invalid JSON", '{"title": "Café crème"}'.encode("latin-1")),
        _bad("json-array", "decode", "JSON list", b"[1, 2, 3]"),
        _bad("json-string", "decode", "JSON str", b'"just a string"'),
        _bad("json-number", "decode", "JSON int", b"42"),
        _bad("json-null", "decode", "JSON NoneType", b"null"),
        _bad("empty-bytes", "decode", "invalid JSON", b""),
        _bad("null-value", "decode", "empty value", None),
        _bad("huge-integer", "decode", "unreadable JSON", b'{"event_id": "b", "n": ' + b"7" * 5000 + b"}"),
        _bad("deep-nesting", "decode", "unreadable JSON", b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
        _bad(
            "over-event-limit", "decode", f"> {MAX_EVENT_BYTES} bytes", _padded("over-event-limit", MAX_EVENT_BYTES + 1)
        ),
        _bad("far-over-producer-limit", "decode", "event too large", _padded("far-over-producer-limit", 3_000_000)),
        _bad_json("missing-event-id", "event_id: Field required", drop=("event_id",)),
        _bad_json("missing-product-id", "product_id: Field required", drop=("product_id",)),
        _bad_json("missing-updated-at", "updated_at: Field required", drop=("updated_at",)),
        _bad_json("missing-title", "visible characters", drop=("title",)),
        _bad_json("empty-event-id", "event_id", event_id=""),
        _bad_json("long-event-id", "event_id", event_id="e" * 201),
        _bad_json("bad-updated-at", "updated_at", updated_at="last tuesday"),
        _bad_json("bad-op", "op", op="explode"),
        _bad_json("empty-title", "visible characters", title=""),
        _bad_json("blank-title", "visible characters", title=" \t\n "),
        _bad_json("zero-width-title", "visible characters", title="\u200b\u200c\u200d\ufeff"),
        _bad_json("control-char-title", "visible characters", title="\x00\x01\x02"),
        _bad_json("numeric-title", "title", title=12345),
        _bad_json("list-title", "title", title=["Red", "Shirt"]),
        _bad_json("object-title", "title", title={"en": "Red Shirt"}),
        _bad_json("numeric-product-id", "product_id", product_id=98765),
        _bad_json("attributes-list", "attributes", attributes=["red", "cotton"]),
        _bad_json("attributes-nested", "nested value", attributes={"size": {"eu": 42}}),
        _bad_json(
            "too-many-attributes", "attributes too large: 101 > 100", attributes={f"a{i}": "v" for i in range(101)}
        ),
        _bad_json("huge-attribute-map", "attributes too large", attributes={f"k{i}": i for i in range(20_000)}),
        _bad_json("attribute-too-long", "too large: 501 > 500", attributes={"care": "x" * 497}),
        _bad_json("title-over-limit", "title too large: 1001 > 1000", title="t" * 1001),
        _bad_json("description-over-limit", "description too large: 20001 > 20000", description="d" * 20_001),
        _bad_json("brand-over-limit", "brand too large: 201 > 200", brand="b" * 201),
        _bad_json("surrogate-title", "surrogate", title="Red \ud83d Shirt"),
        _bad_json("surrogate-attribute-key", "surrogate", attributes={"col\udc00our": "red"}),
        _bad_json("surrogate-brand", "surrogate", brand="\udfff"),
        _bad_json("nan-title", "title", title=float("nan")),
        _bad(
            "key-mismatch",
            "validate",
            "does not match product_id",
            json.dumps(_body("b-key", "p-key-mismatch")).encode(),
            key=b"some-other-product",
        ),
        _bad_json("delete-bad-op-case", "op", op="DELETE"),
    ]


def unusual_valid() -> list[Case]:
    """Unusual but valid events: each must be tagged (or superseded), never rejected."""
    return [
        Case(
            "utf8-bom",
            b"p-bom",
            b"\xef\xbb\xbf" + json.dumps(_body("u-bom", "p-bom")).encode(),
            "tag",
            event_id="u-bom",
        ),
        _ok("cjk", title="女士红色连衣裙 夏季 纯棉"),
        _ok("japanese", title="メンズ 黒 ランニングシューズ"),
        _ok("arabic-rtl", title="فستان نسائي أحمر طويل"),
        _ok("hebrew-bidi", title="\u202bחולצה כחולה\u202c Blue Shirt"),
        _ok("emoji", title="Summer Dress 👗🔥 with ZWJ 👩‍💻"),
        _ok("html", title="<b>Red</b> Cotton Shirt &amp; Tie <script>x</script>"),
        _ok("control-chars-inside", title="Red\x00 Cotton\x07 Shirt"),
        _ok("zero-width-inside", title="Red\u200bCotton Shirt"),
        _ok("fullwidth", title="ＮＩＫＥ Ｍｅｎ Ｓｈｏｅｓ"),
        _ok("title-at-limit", title="Shirt " + "x" * 994),
        _ok("description-at-limit", description="d" * 20_000),
        _ok("brand-at-limit", brand="b" * 200),
        _ok("attributes-at-limit", attributes={f"a{i:03d}": "v" for i in range(100)}),
        _ok("attribute-at-limit", attributes={"care": "x" * 496}),
        _ok("scalar-attribute-values", attributes={"size": 42, "organic": True, "discount": None, "weight": 0.5}),
        _ok("unknown-fields", price=19.99, stock={"warehouse": 3}, tags=["ignored"]),
        _ok("null-optional-fields", description=None, brand=None, category_hint=None, attributes=None),
        _ok("naive-updated-at", updated_at="2026-03-01T10:00:00"),
        _ok("offset-updated-at", updated_at="2026-03-01T15:30:00+05:30"),
        _ok("unix-updated-at", updated_at=1767225600),
        Case(
            "at-event-limit",
            b"p-at-event-limit",
            _padded("at-event-limit", MAX_EVENT_BYTES),
            "tag",
            event_id="u-at-event-limit",
        ),
        Case(
            "under-event-limit",
            b"p-under-event-limit",
            _padded("under-event-limit", MAX_EVENT_BYTES - 1),
            "tag",
            event_id="u-under-event-limit",
        ),
        Case("no-key", None, json.dumps(_body("u-no-key", "p-no-key")).encode(), "tag", event_id="u-no-key"),
        Case(
            "utf16-json",
            b"p-utf16",
            json.dumps(_body("u-utf16", "p-utf16")).encode("utf-16"),
            "tag",
            event_id="u-utf16",
        ),
    ]


def conflicts() -> Iterator[Case]:
    """Duplicate and conflicting events for one product (adjacent, so usually in one batch)."""
    for i, (upd, title) in enumerate([(TS, "Blue Denim Jeans"), (TS, "Blue Denim Jeans")]):
        body = _body(f"u-dup-{i}", "p-dup", title=title, updated_at=upd)
        yield Case(f"duplicate-{i}", b"p-dup", json.dumps(body).encode(), "tag", event_id=f"u-dup-{i}")
    newer = _body("u-conflict-new", "p-conflict", title="Green Silk Saree", updated_at="2026-03-02T00:00:00+00:00")
    older = _body("u-conflict-old", "p-conflict", title="Yellow Silk Saree", updated_at="2026-03-01T18:00:00-05:00")
    yield Case("conflict-newer", b"p-conflict", json.dumps(newer).encode(), "tag", event_id="u-conflict-new")
    yield Case("conflict-older-later-tz", b"p-conflict", json.dumps(older).encode(), "tag", event_id="u-conflict-old")
    up = _body("u-del-up", "p-del", updated_at="2026-03-01T09:00:00Z")
    down = _body("u-del-down", "p-del", op="delete", title="", updated_at="2026-03-01T11:00:00Z")
    # in one batch the delete wins (a tombstone answers for both); split across batches, the upsert is tagged
    yield Case("upsert-then-delete", b"p-del", json.dumps(up).encode(), "tag|tombstone", event_id="u-del-up")
    yield Case("delete-after-upsert", b"p-del", json.dumps(down).encode(), "tombstone", event_id="u-del-down")


def as_event(case: Case) -> OutEvent:
    return OutEvent(case.key, case.value)
