from tagstream.trainer.report import write_model_card

METRICS = {"micro_f1": 0.9, "macro_f1": 0.8, "samples_f1": 0.85, "micro_precision": 0.9, "micro_recall": 0.9}


def info(**validation):
    return {
        "name": "shop",
        "train_path": "t.jsonl",
        "val_path": "v.jsonl",
        "n_train": 10,
        "n_val": 5,
        "train_bad_rows": 0,
        "val_bad_rows": 0,
        "n_tags": 3,
        "min_tag_count": 1,
        "n_dropped_tags": 0,
        "options": {"max_length": 64},
        "best_epoch": 1,
        "history": [{"epoch": 1}],
        "train_seconds": 1.0,
        "validation": {"model": METRICS, "references": {"tfidf": METRICS}, **validation},
    }


def card(tmp_path, data: dict) -> str:
    write_model_card(tmp_path, data)
    return (tmp_path / "README.md").read_text()


def test_a_blend_weighed_but_not_served_is_said_so(tmp_path):
    text = card(tmp_path, info(blend={"served": False, "weight": 1.0}, hierarchy={"mode": "none"}))
    assert "| served: fine-tuned |" in text and "did not gain enough to be served" in text
    assert "tag tree" not in text and "share their text" not in text


def test_a_served_blend_its_weight_the_tree_and_label_conflicts_are_on_the_card(tmp_path):
    data = info(blend={"served": True, "weight": 0.4}, hierarchy={"mode": "prune"})
    data["validation"]["references"]["transformer"] = METRICS
    data["label_conflicts"] = {
        "off_majority": 7,
        "share": 0.07,
        "per_key": [
            {"key": "season", "items": 20, "off_majority": 5},
            {"key": "colour", "items": 9, "off_majority": 2},
        ],
    }
    text = card(tmp_path, data)
    assert "| served: fine-tuned + TF-IDF blend (w = 0.4) |" in text and "`0.4 * fine-tuned + 0.6 * TF-IDF`" in text
    assert "| fine-tuned alone (unblended) |" in text and "mode `prune`" in text
    assert "7 train items (7.0 %)" in text and "`season` 5, `colour` 2" in text
