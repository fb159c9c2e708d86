import asyncio
import base64
import json

import pytest

from tagstream.stream.events import TagEvent
from tagstream.stream.publisher import Publisher, PublishError, dead_letter_value_budget
from tagstream.stream.records import Record
from tagstream.stream.results import Deleted, Rejected, Tagged

LIMIT = 1_048_576


class FakeBroker:
    """Acknowledges what fits under `max_bytes`; fails sends to topics in `failing`."""

    def __init__(self, max_bytes=LIMIT, failing=()):
        self.max_bytes = max_bytes
        self.failing = set(failing)
        self.sent = []

    async def send(self, topic, key, value, headers):
        fut = asyncio.get_running_loop().create_future()
        size = len(value or b"") + len(key or b"")
        if topic in self.failing:
            fut.set_exception(ConnectionError(f"{topic} is down"))
        elif size > self.max_bytes:
            fut.set_exception(ValueError(f"message of {size} bytes is too large"))
        else:
            self.sent.append((topic, key, value, dict(headers)))
            fut.set_result(None)
        return fut


def publisher(broker, **kw):
    return Publisher(
        broker.send, output_topic="out", dlq_topic="dlq", max_request_bytes=broker.max_bytes, backoff_s=0.01, **kw
    )


def record(value=b"{}", key=b"p1", offset=3):
    return Record("in", 1, offset, key, value, 1.0)


def tagged(pid="p1"):
    ev = TagEvent(
        product_id=pid,
        source_event_id="e1",
        superseded_event_ids=["e0"],
        tags=[],
        model_name="m",
        model_version="1",
        content_hash="h",
        cached=False,
    )
    return Tagged(record(key=pid.encode()), ev.product_id, ev.source_event_id, ev.model_dump_json().encode())


def test_results_go_to_their_topics_with_source_ids():
    broker = FakeBroker()
    report = asyncio.run(
        publisher(broker).publish(
            [
                tagged(),
                Deleted(record(key=b"p2"), "p2", "e9", ("e8",)),
                Rejected(record(b"{nope"), "decode", "invalid JSON"),
            ]
        )
    )
    (t1, k1, v1, h1), (t2, k2, v2, h2), (t3, k3, v3, h3) = broker.sent
    assert (t1, k1, json.loads(v1)["source_event_id"], h1["source_event_id"]) == ("out", b"p1", "e1", b"e1")
    assert (t2, k2, v2, h2["source_event_id"], json.loads(h2["superseded_event_ids"])) == (
        "out",
        b"p2",
        None,
        b"e9",
        ["e8"],
    )
    dl = json.loads(v3)
    assert t3 == "dlq" and dl["stage"] == "decode" and base64.b64decode(dl["value_b64"]) == b"{nope"
    assert (dl["topic"], dl["partition"], dl["offset"]) == ("in", 1, 3)
    assert report.tag_events == {"tags": 1, "tombstone": 1} and report.dead_letters == {"decode": 1}


@pytest.mark.parametrize(
    "size",
    [
        dead_letter_value_budget(LIMIT) - 1,
        dead_letter_value_budget(LIMIT),
        dead_letter_value_budget(LIMIT) + 1,
        LIMIT,
        5 * LIMIT,
    ],
)
def test_a_dead_letter_always_fits_and_keeps_what_it_can(size):
    broker = FakeBroker()
    original = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    asyncio.run(publisher(broker).publish([Rejected(record(original), "decode", "event too large")]))
    ((topic, _, value, _),) = broker.sent
    dl = json.loads(value)
    assert topic == "dlq" and len(value) <= LIMIT and dl["value_size"] == size
    kept = base64.b64decode(dl["value_b64"])
    assert original.startswith(kept)
    assert dl["value_truncated"] is (size > dead_letter_value_budget(LIMIT))
    assert len(kept) == min(size, dead_letter_value_budget(LIMIT))


def test_a_huge_envelope_still_fits():
    broker = FakeBroker(max_bytes=65_536)
    reason = "\x01" * 2000  # escaped as \u0001: six bytes each
    ids = tuple(f"id-{'x' * 190}-{i}" for i in range(100))
    asyncio.run(publisher(broker).publish([Rejected(record(b"y" * 60_000), "validate", reason, ids)]))
    ((_, _, value, _),) = broker.sent
    assert len(value) <= 65_536 and json.loads(value)["value_truncated"]


def test_a_tag_event_that_cannot_be_published_becomes_a_dead_letter():
    broker = FakeBroker(failing={"out"})
    report = asyncio.run(publisher(broker).publish([tagged()]))
    ((topic, _, value, _),) = broker.sent
    assert topic == "dlq" and json.loads(value)["stage"] == "publish" and "out is down" in json.loads(value)["error"]
    assert report.dead_letters == {"publish": 1} and not report.tag_events


def test_dead_letters_that_cannot_be_published_fail_the_batch():
    broker = FakeBroker(failing={"out", "dlq"})
    with pytest.raises(PublishError, match="could not be published after 3 attempts"):
        asyncio.run(publisher(broker, max_attempts=3).publish([tagged()]))


class RefusingBroker(FakeBroker):
    """Refuses the tag events of `refused` keys at once, as aiokafka does for a message over its
    request size (the send raises instead of returning a future that fails later)."""

    def __init__(self, refused):
        super().__init__()
        self.refused = set(refused)

    async def send(self, topic, key, value, headers):
        if topic == "out" and key in self.refused:
            raise ValueError("the message is larger than the request size")
        return await super().send(topic, key, value, headers)


def test_a_send_refused_at_once_becomes_a_dead_letter_like_a_failed_ack():
    broker = RefusingBroker(refused={b"p-big"})
    report = asyncio.run(publisher(broker).publish([tagged("p-big"), tagged("p-ok")]))
    assert [t for t, *_ in broker.sent] == ["out", "dlq"]
    dl = json.loads(broker.sent[1][2])
    assert dl["stage"] == "publish" and "larger than the request size" in dl["error"]
    assert report.tag_events["tags"] == 1 and report.dead_letters["publish"] == 1
