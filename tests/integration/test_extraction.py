"""Attribute extraction end to end: a model trained jointly (tags + token head), exported, served by a
real Triton and streamed by a real worker: values never seen in training come out as attributes."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime

import pytest

from tagstream.clients.producer import OutEvent, produce
from tagstream.core.text import model_text
from tagstream.localstack.stack import LocalStack
from tagstream.stream.settings import WorkerSettings
from tagstream.stream.triton_client import TritonInference
from tagstream.trainer.export import export_model
from tagstream.trainer.predict import LocalModel
from tests.conftest import EXAMPLES
from tests.integration.topics import read_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# colours that no training text holds (rows that mention them are left out of training below)
UNSEEN = ["Burgundy", "Mauve", "Fuchsia", "Crimson"]
TITLES = [
    "Nike Women Burgundy Running Shoes",
    "Roadster Men Mauve Checked Casual Shirt",
    "Lavie Women Fuchsia Handbag",
    "Puma Men Crimson Track Pants",
]
WORKER = {"app_id": "extract-test", "batch_wait_s": 0.1, "version_check_s": 0.5}


@pytest.fixture(scope="module")
def extracting(tmp_path_factory):
    """A joint model on 1,200 sample items (two epochs, about two minutes on 2 cores), served."""
    from tagstream.trainer.options import TrainOptions
    from tagstream.trainer.pipeline import run_training

    d = tmp_path_factory.mktemp("extract")
    unseen = re.compile(r"\b(" + "|".join(UNSEEN) + r")\b", re.IGNORECASE)
    rows = (EXAMPLES / "catalogue.train.jsonl").read_text(encoding="utf-8").splitlines()[:1200]
    train = d / "train.jsonl"
    train.write_text("\n".join(r for r in rows if not unseen.search(r)) + "\n", encoding="utf-8")
    val = d / "val.jsonl"
    val.write_text("\n".join((EXAMPLES / "catalogue.val.jsonl").read_text().splitlines()[:100]) + "\n")
    model = d / "model"
    opts = TrainOptions(
        epochs=2, batch_size=16, seed=3, min_tag_count=3, references=False, extract="auto", extract_weight=1.0
    )
    info = run_training(train, val, model, opts, progress=False, echo=lambda *_: None)
    assert info["validation"]["extraction"]["gender"]["f1"] > 0.8  # the sample's gender words are regular
    repo = d / "repo"
    export_model(model, repo)
    stack = LocalStack(d, repo).start()
    try:
        yield {"model": model, "stack": stack, "train": train}
    finally:
        stack.stop()


def test_triton_serves_the_attributes_the_model_extracts(extracting):
    texts = [model_text(t) for t in TITLES]
    tagger = LocalModel(extracting["model"])
    local = tagger.extract(texts)

    async def served():
        async with TritonInference.from_settings(
            WorkerSettings(triton_url=extracting["stack"].triton.grpc_url)
        ) as client:
            return await client.infer(texts)

    batch = asyncio.run(served())
    assert set(batch.model.attribute_keys) == {"colour", "gender"}
    assert batch.attributes is not None
    for want, got in zip(local, batch.attributes, strict=True):
        assert [(e.key, e.value, e.start, e.end) for e in want] == [(a.key, a.value, a.start, a.end) for a in got]
        for e, a in zip(want, got, strict=True):
            assert abs(e.score - a.score) < 1e-3


def test_streamed_tag_events_carry_values_never_seen_in_training(extracting):
    train_text = extracting["train"].read_text(encoding="utf-8").lower()
    assert not any(u.lower() in train_text for u in UNSEEN)
    stack, run = extracting["stack"], uuid.uuid4().hex[:6]
    topics = {"input_topic": f"ex-{run}.in", "output_topic": f"ex-{run}.tags", "dlq_topic": f"ex-{run}.dlq"}
    stack.start_worker(f"ex-{run}", **{**WORKER, **topics, "app_id": f"ex-{run}"})

    def events(suffix: str) -> list[OutEvent]:
        out = []
        for i, title in enumerate(TITLES):
            body = {
                "event_id": str(uuid.uuid4()),
                "product_id": f"{run}-{i}",
                "title": title,
                "updated_at": datetime.now(UTC).isoformat(),
                "price": suffix,  # not model text: the second round has the same content hash
            }
            out.append(OutEvent(f"{run}-{i}".encode(), json.dumps(body).encode()))
        return out

    def collect(n: int) -> list:
        return read_until(stack.broker.url, topics["output_topic"], n, timeout=120)

    asyncio.run(produce(stack.broker.url, topics["input_topic"], events("1")))
    first = collect(len(TITLES))
    assert len(first) == len(TITLES)
    unseen_found = set()
    for r in first:
        v = r.value
        assert v["schema_version"] == 2 and v["cached"] is False
        text = model_text(TITLES[int(r.key.rsplit("-", 1)[1])])
        assert v["attributes"], v
        for a in v["attributes"]:
            assert text[a["start"] : a["end"]] == a["value"] and 0 < a["score"] <= 1
            if a["key"] == "colour" and a["value"] in UNSEEN:
                unseen_found.add(a["value"])
        assert any(a["key"] == "gender" for a in v["attributes"])
    assert unseen_found, "no colour that training never saw was extracted"
    # the same content again: from the cache, attributes included
    second = events("2")
    second_ids = {json.loads(e.value)["event_id"] for e in second}
    asyncio.run(produce(stack.broker.url, topics["input_topic"], second))
    both = collect(2 * len(TITLES))
    again = {r.key: r.value for r in both if r.value["source_event_id"] in second_ids}
    assert len(again) == len(TITLES)
    for r in first:
        assert again[r.key]["cached"] is True and again[r.key]["attributes"] == r.value["attributes"]
