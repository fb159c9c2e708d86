"""`tagstream train`: data -> vocabulary -> fine-tune -> references -> artefact directory."""

from __future__ import annotations

import functools
import json
import logging
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from tagstream.core.artifact import TagVocabulary, Thresholds
from tagstream.core.errors import DataError
from tagstream.core.hierarchy import TagHierarchy
from tagstream.trainer import extraction
from tagstream.trainer.baselines import HeadOnlyBaseline, TfidfBaseline
from tagstream.trainer.blend import fit_blend, write_blend
from tagstream.trainer.checkpoint import checkpoint_dir
from tagstream.trainer.data import CatalogueItem, Dataset, few_shot_subset, load_dataset
from tagstream.trainer.distill import teacher_targets
from tagstream.trainer.evaluate import REFERENCES_DIR, hierarchy_report, score_metrics
from tagstream.trainer.label_noise import conflicts_line, shared_texts, text_conflicts
from tagstream.trainer.model import CONFIG_FILE, TaggerModel, load_tokenizer, resolve_base_model
from tagstream.trainer.options import TrainOptions
from tagstream.trainer.report import plot_training_curve, write_json, write_model_card
from tagstream.trainer.selection import validation_score
from tagstream.trainer.spans import coverage, extractable_keys, span_metrics
from tagstream.trainer.staging import replacing_directory
from tagstream.trainer.text_budget import choose_budget
from tagstream.trainer.train import TrainResult, train_model
from tagstream.trainer.triton_backend.tfidf_blend import TfidfScorer

log = logging.getLogger(__name__)


def _report_bad_rows(ds: Dataset, echo: Callable[[str], object]) -> None:
    if ds.bad_rows:
        echo(f"{ds.path}: skipped {len(ds.bad_rows)} bad rows")
        for row in ds.bad_rows[:10]:
            echo(f"  {row}")
        if len(ds.bad_rows) > 10:
            echo(f"  ... and {len(ds.bad_rows) - 10} more")


#: `auto` keeps predictions inconsistent with the tag tree only if that is this much better (micro-F1).
CONSISTENCY_TOLERANCE = 0.005


def fit_hierarchy(
    tag_lists: list[list[str]],
    tags: list[str],
    y_val: np.ndarray,
    val_probs: np.ndarray,
    thresholds: Thresholds,
    setting: str,
) -> tuple[TagHierarchy, dict[str, Any]]:
    """The tag tree of the train tags, decoded the way `setting` says. `auto`: the consistent decoding
    (prune or complete) with the better validation score (`trainer.selection`), unless leaving predictions
    inconsistent (none) is better by more than `CONSISTENCY_TOLERANCE` micro-F1."""
    hierarchy = TagHierarchy.learn(tag_lists, tags)
    report: dict[str, Any] = hierarchy_report(y_val, val_probs, thresholds, tags, hierarchy)
    best = setting
    if setting == "auto":
        best = max(("prune", "complete"), key=lambda m: validation_score(report[m]["micro_f1"], report[m]["macro_f1"]))
        if not hierarchy.parent and not hierarchy.exclusive_groups:
            best = "none"  # no tree in these tags
        elif report["none"]["micro_f1"] > report[best]["micro_f1"] + CONSISTENCY_TOLERANCE:
            best = "none"
    hierarchy = hierarchy.with_mode(best)  # type: ignore[arg-type]
    report["mode"] = best
    return hierarchy, report


def _unlabelled_items(opts: TrainOptions, val: Dataset, echo: Callable[[str], object]) -> list[CatalogueItem]:
    """`--unlabelled`'s items (their tags dropped); a warning when some are validation items, which
    would then teach the student what validation measures."""
    if not opts.unlabelled:
        return []
    extra = load_dataset(opts.unlabelled, strict=opts.strict, require_tags=False)
    _report_bad_rows(extra, echo)
    in_val = shared_texts([it.text for it in extra.items], val.texts)
    echo(f"unlabelled: {len(extra.items)} items of {opts.unlabelled}, learnt from the teacher's scores alone")
    if in_val:
        echo(f"warning: {in_val} unlabelled texts are also validation texts; validation scores will be optimistic")
    return [it.model_copy(update={"tags": []}) for it in extra.items]


def extract_keys(spec: str, texts: list[str], tag_lists: list[list[str]]) -> list[str]:
    """The keys to extract: none, the data's extractable ones (auto), or the ones named."""
    spec = spec.strip()
    if spec in ("", "none"):
        return []
    if spec == "auto":
        keys = extractable_keys(texts, tag_lists)
        if not keys:
            raise DataError("--extract auto: no key's values are written in enough train texts (see `tagstream spans`)")
        return keys
    keys = [k.strip() for k in spec.split(",") if k.strip()]
    cov = {c.key: c for c in coverage(texts, tag_lists)}
    missing = [k for k in keys if k not in cov or cov[k].found == 0]
    if missing:
        raise DataError(f"--extract: no train text holds a value of {', '.join(missing)} (see `tagstream spans`)")
    return keys


def continued_extract_keys(model_dir: Path) -> list[str]:
    return extraction.keys_of(
        json.loads((model_dir / CONFIG_FILE).read_text(encoding="utf-8")).get("extract_labels", [])
    )


def token_counts(opts: TrainOptions, texts: list[str]) -> list[int]:
    """Tokens of each text (special tokens included) with the tokenizer the run trains with."""
    if opts.init_from:
        tokenizer = TaggerModel.load(Path(opts.init_from))[1]
    else:
        tokenizer = load_tokenizer(resolve_base_model(opts.base_model))
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]


def _trained(
    train_with: Callable[[TrainOptions, Path], TrainResult],
    opts: TrainOptions,
    budget: int,
    checkpoint_to: Path,
    keep: Callable[[int, TrainResult], None] | None,
) -> tuple[TrainResult, np.ndarray, float]:
    result = train_with(opts.model_copy(update={"max_length": budget}), checkpoint_to)
    if keep is not None:
        keep(budget, result)
    return result, result.val_probs, result.seconds


def _keep_trial(directory: Path, vocab: TagVocabulary, budget: int, result: TrainResult) -> None:
    with replacing_directory(directory / f"max-length-{budget}") as tmp:
        result.model.save(tmp, result.tokenizer)
        vocab.save(tmp)
        result.thresholds.save(tmp)


def run_training(
    train_path: Path,
    val_path: Path,
    out: Path,
    opts: TrainOptions,
    *,
    progress: bool = True,
    echo: Callable[[str], object] = print,
    keep_trials: Path | None = None,
) -> dict:
    """Train, tune thresholds, fit the reference models and write the artefact directory `out`
    (written next to it and renamed into place, so a failed run leaves no half directory). With
    `--max-length auto`, `keep_trials` (for benchmarks) keeps each budget's fine-tuned model, as
    trained, in `keep_trials/max-length-N` (weights, tags and thresholds; no references)."""
    min_tag_count, few_shot = opts.min_tag_count, opts.few_shot
    train = load_dataset(train_path, strict=opts.strict, max_items=opts.max_items)
    val = load_dataset(val_path, strict=opts.strict)
    _report_bad_rows(train, echo)
    _report_bad_rows(val, echo)
    items = train.items
    if few_shot:
        items = few_shot_subset(items, few_shot, opts.seed)
        echo(f"few-shot: kept {len(items)} of {len(train.items)} train items (<= ~{few_shot} per tag)")
    if opts.init_from and opts.replay:
        old_items = load_dataset(opts.replay, strict=opts.strict).items
        k = min(len(old_items), round(opts.replay_ratio * len(items)))
        replayed = random.Random(opts.seed).sample(old_items, k)
        echo(f"replay: {k} items of {opts.replay} mixed with {len(items)} new ones")
        items = [*items, *replayed]
    tag_lists = [list(it.tags) for it in items]
    vocab = TagVocabulary.build(tag_lists, min_tag_count)
    if opts.init_from:  # the model's tags first, in its order; new ones appended
        old = TagVocabulary.load(Path(opts.init_from))
        new = [t for t in vocab.tags if t not in set(old.tags)]
        support = {**old.support, **{t: vocab.support[t] for t in new}}
        dropped = {t: c for t, c in vocab.dropped.items() if t not in set(old.tags)}
        vocab = TagVocabulary(tags=[*old.tags, *new], support=support, min_tag_count=min_tag_count, dropped=dropped)
        echo(f"continuing from {opts.init_from}: {len(old.tags)} tags kept, {len(new)} new")
    if len(vocab) == 0:
        raise DataError(f"{train_path}: no tag has at least {min_tag_count} train items (lower --min-tag-count)")
    echo(f"tags: {len(vocab)} kept (>= {min_tag_count} train items), {len(vocab.dropped)} below the minimum")
    if vocab.dropped:
        shown = ", ".join(f"{t} ({c})" for t, c in list(vocab.dropped.items())[:8])
        echo(f"  dropped: {shown}{' ...' if len(vocab.dropped) > 8 else ''}")
    texts = [it.text for it in items]
    y = vocab.encode(tag_lists)
    keep = y.sum(1) > 0
    if not keep.all():
        echo(f"{int((~keep).sum())} train items have no tag in the vocabulary; they stay in as negatives")
    y_val = vocab.encode(val.tag_lists)
    conflicts = text_conflicts(texts, tag_lists).as_dict()
    if conflicts["off_majority"]:
        echo(conflicts_line(conflicts))
    val_in_train = shared_texts(val.texts, texts)
    if val_in_train:
        echo(
            f"warning: {val_in_train} of {len(val.items)} validation texts are also train texts; validation "
            "scores, and the choices made on them (epoch, thresholds, blend), will be optimistic"
        )

    keys = extract_keys(opts.extract, texts, tag_lists)
    if opts.init_from and not keys:  # a continued model keeps extracting what it extracted
        keys = continued_extract_keys(Path(opts.init_from))
    if keys and opts.unlabelled:  # refused before the teacher scores anything
        raise DataError("--unlabelled: not with attribute extraction (its token labels come from the tags)")
    # what the student fits: the train items, and with --unlabelled more items the teacher labels
    fit_items, fit_y, fit_tag_lists = items, y, tag_lists
    soft_targets = None
    if opts.teacher:
        if few_shot or opts.replay:
            raise DataError("--teacher scores the train split's items in order: not with --few-shot or --replay")
        extra = _unlabelled_items(opts, val, echo)
        extra_texts = [it.text for it in extra]
        blank = np.zeros((len(extra), len(vocab)), dtype=np.float32)  # a tag the teacher does not score: absent
        soft_targets, shared = teacher_targets(
            Path(opts.teacher), [*texts, *extra_texts], vocab.tags, np.concatenate([y, blank])
        )
        echo(
            f"distilling from {opts.teacher}: it scores {shared} of the {len(vocab)} tags "
            f"(weight {opts.teacher_weight})"
        )
        if extra:  # their only labels are the teacher's scores, in both parts of the loss
            fit_items, fit_tag_lists = [*items, *extra], [*tag_lists, *([] for _ in extra)]
            fit_y = np.concatenate([y, soft_targets[len(items) :]])
    fit_texts = [it.text for it in fit_items]
    if opts.field_dropout > 0:

        def train_texts(rng):
            return [it.augmented_text(rng, opts.field_dropout) for it in fit_items]
    else:
        train_texts = fit_texts
    if keys:
        echo(f"attribute extraction (trained jointly): {', '.join(keys)}")

    def train_with(run_opts: TrainOptions, checkpoint_to: Path) -> TrainResult:
        return train_model(
            train_texts,
            fit_y,
            val.texts,
            y_val,
            vocab,
            run_opts,
            progress=progress,
            extract_labels=extraction.label_set(keys) if keys else (),
            train_tags=fit_tag_lists,
            soft_targets=soft_targets,
            checkpoint_to=checkpoint_to if run_opts.checkpoint else None,
        )

    budget_choice = None
    if opts.max_length == "auto":
        result, budget_choice = choose_budget(
            token_counts(opts, texts),
            lambda budget: _trained(
                train_with,
                opts,
                budget,
                checkpoint_dir(Path(out)) / f"max-length-{budget}",
                None if keep_trials is None else functools.partial(_keep_trial, keep_trials, vocab),
            ),
            y_val,
            vocab.tags,
            min_support=opts.threshold_min_support,
            seed=opts.seed,
            echo=echo,
        )
        opts = opts.model_copy(update={"max_length": budget_choice.max_length})
    else:
        result = train_with(opts, checkpoint_dir(Path(out)))

    out = Path(out)
    with replacing_directory(out) as tmp:
        result.model.save(tmp, result.tokenizer)
        vocab.save(tmp)
        references: dict[str, dict] = {}
        ref_seconds: dict[str, float] = {}
        served_val, thresholds = result.val_probs, result.thresholds
        blend_report = None
        if opts.references:
            ref_dir = tmp / REFERENCES_DIR
            ref_dir.mkdir()
            t0 = time.perf_counter()
            head = HeadOnlyBaseline(result.options["base_model"], opts.max_length).fit(
                texts, y, val.texts, y_val, vocab.tags, seed=opts.seed
            )
            head.save(ref_dir)
            ref_seconds["head_only"] = time.perf_counter() - t0
            references["head_only"] = score_metrics(y_val, head.val_scores, head.thresholds, vocab.tags)[0]
            t0 = time.perf_counter()
            tfidf = TfidfBaseline().fit(texts, y, val.texts, y_val, vocab.tags)
            tfidf.save(ref_dir)
            ref_seconds["tfidf"] = time.perf_counter() - t0
            references["tfidf"] = score_metrics(y_val, tfidf.val_scores, tfidf.thresholds, vocab.tags)[0]
            if opts.blend == "auto":
                fitted = fit_blend(
                    TfidfScorer(ref_dir),
                    vocab.tags,
                    val.texts,
                    y_val,
                    result.val_probs,
                    min_support=opts.threshold_min_support,
                    seed=opts.seed,
                )
                choice = fitted.choice
                blend_report = choice.model_dump()
                if choice.served:
                    served_val, thresholds = fitted.val_scores, fitted.thresholds
                    write_blend(
                        tmp, choice.weight, REFERENCES_DIR, transformer_thresholds=result.thresholds, choice=choice
                    )
                best, alone = next(r for r in choice.table if r.weight == choice.weight), choice.table[0]
                echo(
                    f"blend with TF-IDF: weight {choice.weight:.1f} scores {best.micro_f1:.4f} / {best.macro_f1:.4f} "
                    f"validation micro / macro-F1 (cross-validated), the model alone {alone.micro_f1:.4f} / "
                    f"{alone.macro_f1:.4f}: {'served' if choice.served else 'not served (too little gain)'}"
                )
        thresholds.save(tmp)
        hierarchy, hierarchy_val = fit_hierarchy(tag_lists, vocab.tags, y_val, served_val, thresholds, opts.hierarchy)
        hierarchy.save(tmp)
        val_metrics: dict[str, Any] = {
            "model": score_metrics(y_val, served_val, thresholds, vocab.tags, hierarchy)[0],
            "references": references,
            "hierarchy": hierarchy_val,
        }
        if blend_report is not None:
            val_metrics["blend"] = blend_report
            if blend_report["served"]:  # the fine-tuned model alone, as a reference
                references["transformer"] = score_metrics(
                    y_val, result.val_probs, result.thresholds, vocab.tags, hierarchy
                )[0]
        if keys:
            found = extraction.extract(result.model, result.tokenizer, val.texts)
            gold = extraction.gold_spans(val.texts, val.tag_lists, set(keys))
            val_metrics["extraction"] = span_metrics(gold, extraction.as_spans(found))
        history = [asdict(h) for h in result.history]
        info = {
            "name": out.name,
            "train_path": str(train_path),
            "val_path": str(val_path),
            "n_train": len(items),
            "n_unlabelled": len(fit_items) - len(items),
            "n_val": len(val.items),
            "train_bad_rows": len(train.bad_rows),
            "val_bad_rows": len(val.bad_rows),
            "n_tags": len(vocab),
            "min_tag_count": min_tag_count,
            "n_dropped_tags": len(vocab.dropped),
            "label_conflicts": conflicts,
            "val_texts_in_train": val_in_train,
            "options": result.options,
            "best_epoch": result.best_epoch,
            "train_seconds": result.seconds,
            "trainable_params": result.trainable_params,
            "total_params": result.total_params,
            "peak_memory_mb": round(result.peak_memory_mb, 1),
            "reference_train_seconds": ref_seconds,
            "history": history,
            "validation": val_metrics,
            **({"max_length_choice": budget_choice.model_dump()} if budget_choice else {}),
            "thresholds": {
                "global": thresholds.global_,
                "per_tag_tuned": len(thresholds.per_tag),
            },
        }
        write_json(tmp / "metrics.json", info)
        plot_training_curve(
            history,
            result.best_epoch,
            tmp / "training_curve.png",
            title=f"{out.name}: loss and validation micro-F1",
        )
        write_model_card(tmp, info)
    shutil.rmtree(checkpoint_dir(out), ignore_errors=True)  # the run is complete: nothing to resume
    return info
