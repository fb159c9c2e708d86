"""Fault-injection harness: stream a known set of events through the real broker, worker, Redis and
Triton, break things, then read the tag and dead-letter topics and account for every event.

Each scenario has its own topics and consumer group, so scenarios never see each other's events.
Every sent event is identified by its (partition, offset), from the producer's acknowledgement; an
output answers for the events it names (a tag event or tombstone: its source event and the events
it superseded; a dead letter: the original's coordinates).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from tagstream.clients.producer import OutEvent, produce
from tagstream.clients.subscriber import Received, read_topic
from tagstream.localstack.stack import LocalStack
from tagstream.localstack.worker import WorkerProcess
from tagstream.stream.kafka import PLAINTEXT, KafkaConnection

#: Worker settings for every scenario: short waits so that the suite stays quick.
FAST = {"batch_wait_s": 0.1, "version_check_s": 0.5, "commit_interval_s": 1.0, "shutdown_grace_s": 5.0}


def event(pid: str, title: str, event_id: str, **kw: Any) -> OutEvent:
    body = {
        "event_id": event_id,
        "product_id": pid,
        "op": kw.pop("op", "upsert"),
        "title": title,
        "updated_at": kw.pop("updated_at", datetime.now(UTC).isoformat()),
        **kw,
    }
    return OutEvent(pid.encode(), json.dumps(body, ensure_ascii=False).encode())


def good_events(prefix: str, titles: list[str], n: int, *, unique_text: bool = False) -> list:
    """n upserts of distinct products (ids `{prefix}-p{i}`, events `{prefix}-e{i}`), titles taken in
    turn; with `unique_text`, no two share a text (each needs Triton)."""
    items = []
    for i in range(n):
        title = titles[i % len(titles)] + (f" lot {prefix}-{i}" if unique_text else "")
        eid = f"{prefix}-e{i}"
        items.append((event(f"{prefix}-p{i}", title, eid), Sent("good", "tag", eid)))
    return items


@dataclass
class Sent:
    label: str  # what kind of event this is (for the report)
    expect: str  # "tag" | "tombstone" | "dead:<stage>", or alternatives joined by "|"
    event_id: str | None
    reason: str = ""  # for a dead letter: what its error must say
    partition: int = -1
    offset: int = -1


@dataclass
class Report:
    sent: int = 0
    tagged: int = 0
    tombstones: int = 0
    dead_lettered: int = 0
    superseded: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong: list[str] = field(default_factory=list)  # events whose outcome is not the expected one
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["wrong"] = self.wrong[:20]
        return out


@dataclass
class Outcome:
    kind: str  # tags | tombstone | dead:<stage> | superseded
    detail: str = ""


class Ledger:
    """The events sent to one input topic and what became of each, read back from the tag and
    dead-letter topics of a broker (embedded, or a compose stack's) and a consumer group."""

    def __init__(
        self,
        broker_url: str,
        topics: dict[str, str],
        group: str,
        partitions: int,
        connection: KafkaConnection = PLAINTEXT,
    ):
        self.broker_url = broker_url
        self.connection = connection  # TLS or SASL settings of the broker's clients
        self.topics = topics  # input_topic, output_topic, dlq_topic
        self.group = group
        self.partitions = partitions
        self.sent: dict[tuple[int, int], Sent] = {}
        self.by_event_id: dict[str, tuple[int, int]] = {}

    def send(
        self, items: list[tuple[OutEvent, Sent]], *, max_request_bytes: int = 1_048_576, rate: float | None = None
    ) -> None:
        receipts: list[tuple[int, int]] = []
        asyncio.run(
            produce(
                self.broker_url,
                self.topics["input_topic"],
                [e for e, _ in items],
                rate,
                max_request_bytes=max_request_bytes,
                receipts=receipts,
                connection=self.connection,
            )
        )
        self._record(items, receipts)

    def send_in_background(self, items: list[tuple[OutEvent, Sent]], rate: float) -> threading.Thread:
        """Send at `rate` events/s from a thread (join it before accounting): faults then land while
        events are still arriving."""
        thread = threading.Thread(target=self.send, args=(items,), kwargs={"rate": rate}, daemon=True)
        thread.start()
        return thread

    def _record(self, items: list[tuple[OutEvent, Sent]], receipts: list[tuple[int, int]]) -> None:
        for (_, s), (p, o) in zip(items, receipts, strict=True):
            s.partition, s.offset = p, o
            self.sent[(p, o)] = s
            if s.event_id:
                self.by_event_id[s.event_id] = (p, o)

    # --- accounting -----------------------------------------------------------------------
    def read(self, topic_key: str, idle_s: float = 2.0) -> list[Received]:
        async def go() -> list[Received]:
            topic = self.topics[topic_key]
            return [
                r async for r in read_topic(self.broker_url, topic, idle_timeout_s=idle_s, connection=self.connection)
            ]

        return asyncio.run(go())

    def outcomes(self) -> dict[tuple[int, int], list[Outcome]]:
        """Every output, as the outcomes of the sent events it answers for."""
        found: dict[tuple[int, int], list[Outcome]] = {}

        def answer(event_id: str | None, outcome: Outcome) -> None:
            coord = self.by_event_id.get(event_id or "")
            if coord is not None:
                found.setdefault(coord, []).append(outcome)

        for r in self.read("output_topic"):
            if r.value is None:
                headers = {k: v.decode() for k, v in r.headers.items()}
                answer(headers.get("source_event_id"), Outcome("tombstone"))
                superseded = json.loads(headers.get("superseded_event_ids", "[]"))
            else:
                answer(r.value["source_event_id"], Outcome("tags", r.value["model_version"]))
                superseded = r.value["superseded_event_ids"]
            for eid in superseded:
                answer(eid, Outcome("superseded"))
        for r in self.read("dlq_topic"):
            dl = r.value or {}
            coord = (dl.get("partition", -1), dl.get("offset", -1))
            if dl.get("topic") == self.topics["input_topic"] and coord in self.sent:
                found.setdefault(coord, []).append(Outcome(f"dead:{dl['stage']}", dl.get("error", "")))
            for eid in dl.get("superseded_event_ids", []):
                answer(eid, Outcome("superseded"))
        return found

    def report(self) -> Report:
        found = self.outcomes()
        rep = Report(sent=len(self.sent))
        kinds: Counter[str] = Counter()
        for coord, s in self.sent.items():
            outs = found.get(coord, [])
            if not outs:
                rep.lost += 1
                rep.wrong.append(f"{s.label} @{coord}: lost")
                continue
            rep.duplicated += len(outs) - 1
            first = outs[0].kind
            kinds[first.split(":")[0]] += 1
            accepted = {"tag": ("tags", "superseded"), "tombstone": ("tombstone", "superseded")}
            ok = any(first == e or first in accepted.get(e, ()) for e in s.expect.split("|"))
            if ok and s.reason and s.reason not in outs[0].detail:
                ok = False
            if not ok:
                rep.wrong.append(f"{s.label} @{coord}: expected {s.expect}, got {first} {outs[0].detail[:120]}")
        rep.tagged, rep.tombstones = kinds["tags"], kinds["tombstone"]
        rep.dead_lettered, rep.superseded = kinds["dead"], kinds["superseded"]
        return rep

    def wait_all_answered(self, timeout: float, poll_s: float = 3.0) -> Report:
        deadline = time.monotonic() + timeout
        while True:
            rep = self.report()
            if rep.lost == 0 or time.monotonic() > deadline:
                return rep
            time.sleep(poll_s)

    def processed_high_marks(self) -> dict[int, int]:
        """Per input partition, the highest offset that has an output (read after a kill: fixed)."""
        marks: dict[int, int] = {}
        for p, o in self.outcomes():
            marks[p] = max(marks.get(p, -1), o)
        return marks

    def committed(self) -> dict[int, int]:
        """The consumer group's committed offsets of the input topic (next offset to read)."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        from tagstream.stream.kafka import bootstrap_servers

        async def go() -> dict[int, int]:
            # a consumer of the group that never joins it: it only asks the group coordinator
            consumer = AIOKafkaConsumer(
                bootstrap_servers=bootstrap_servers(self.broker_url),
                group_id=self.group,
                enable_auto_commit=False,
                **self.connection.client_kwargs(),
            )
            await consumer.start()
            try:
                out = {}
                for p in range(self.partitions):
                    offset = await consumer.committed(TopicPartition(self.topics["input_topic"], p))
                    if offset is not None and offset >= 0:
                        out[p] = offset
                return out
            finally:
                await consumer.stop()

        return asyncio.run(go())


class Scenario(Ledger):
    """A ledger on its own topics and group of the embedded stack, with the workers it starts."""

    def __init__(self, stack: LocalStack, name: str, partitions: int = 4):
        topics = {"input_topic": f"{name}.in", "output_topic": f"{name}.tags", "dlq_topic": f"{name}.dlq"}
        super().__init__(stack.broker.url, topics, f"reliability-{name}", partitions)
        self.stack = stack
        self.name = name
        self.workers: list[WorkerProcess] = []

    def start_worker(self, label: str, *, wait_assigned: bool = True, **overrides: Any) -> WorkerProcess:
        settings = {
            **FAST,
            **self.topics,
            "app_id": self.group,
            "topic_partitions": self.partitions,
            **overrides,
        }
        w = self.stack.start_worker(f"{self.name}-{label}", wait_assigned=wait_assigned, **settings)
        self.workers.append(w)
        return w
