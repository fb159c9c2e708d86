"""Fine-tune an encoder + linear head for multi-label tagging.

BCE-with-logits (optionally focal, optionally with capped positive weights for rare tags), AdamW
with weight decay and a higher learning rate for the head, linear warmup and decay, dropout,
gradient clipping, length-sorted dynamic-padding batches, early stopping on validation micro-F1,
per-tag thresholds tuned on validation, and an optional LoRA adapter (merged before saving).
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from tagstream.core.artifact import TagVocabulary, Thresholds
from tagstream.core.errors import ArtifactError
from tagstream.core.progress import progress_bar
from tagstream.trainer import checkpoint, extraction
from tagstream.trainer.batching import iter_padded, length_sorted_batches, tokenize
from tagstream.trainer.distill import DistilledLoss
from tagstream.trainer.model import TaggerModel, load_tokenizer, resolve_base_model
from tagstream.trainer.options import TrainOptions
from tagstream.trainer.predict import predict_proba
from tagstream.trainer.thresholds import best_global_threshold, tune_thresholds

log = logging.getLogger(__name__)


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float
    val_micro_f1: float
    val_threshold: float
    seconds: float


@dataclass
class TrainResult:
    model: TaggerModel
    tokenizer: object
    thresholds: Thresholds
    val_probs: np.ndarray  # the returned model's validation scores (thresholds were tuned on them)
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0
    options: dict[str, object] = field(default_factory=dict)
    trainable_params: int = 0  # what the optimizer updated (LoRA: the adapters and the head)
    total_params: int = 0
    peak_memory_mb: float = 0.0  # GPU: peak allocated; CPU: the process's peak resident set


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class FocalBCE(nn.Module):
    def __init__(self, gamma: float, pos_weight: torch.Tensor | None):
        super().__init__()
        self.gamma = gamma
        self.pos_weight = pos_weight

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        bce = nn.functional.binary_cross_entropy_with_logits(
            logits, targets, pos_weight=self.pos_weight, reduction="none"
        )
        p = torch.sigmoid(logits)
        pt = p * targets + (1 - p) * (1 - targets)
        return ((1 - pt) ** self.gamma * bce).mean()


def make_loss(opts: TrainOptions, y_train: np.ndarray) -> nn.Module:
    pos_weight = None
    if opts.pos_weight_cap > 0:
        pos = y_train.sum(0).clip(min=1)
        neg = y_train.shape[0] - pos
        pos_weight = torch.tensor(
            np.minimum(opts.pos_weight_cap, np.sqrt(neg / pos)).clip(min=1.0), dtype=torch.float32
        )
    if opts.loss == "focal":
        return FocalBCE(opts.focal_gamma, pos_weight)
    return nn.BCEWithLogitsLoss(pos_weight=pos_weight)


def param_groups(model: TaggerModel, opts: TrainOptions) -> list[dict]:
    """Encoder and head get their own learning rates; biases and norms get no weight decay."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_head = name.startswith("head.")
        no_decay = p.ndim < 2 or "norm" in name.lower()
        groups.setdefault((is_head, no_decay), []).append(p)
    return [
        {
            "params": ps,
            "lr": opts.head_lr if is_head else opts.lr,
            "weight_decay": 0.0 if no_decay else opts.weight_decay,
        }
        for (is_head, no_decay), ps in groups.items()
    ]


def _apply_lora(model: TaggerModel, r: int) -> None:
    from peft import LoraConfig, get_peft_model

    names = {n.rsplit(".", 1)[-1] for n, m in model.encoder.named_modules() if isinstance(m, nn.Linear)}
    targets = [
        t for t in ("query", "key", "value", "q_proj", "k_proj", "v_proj", "q_lin", "k_lin", "v_lin") if t in names
    ]
    if not targets:
        raise ValueError("LoRA: no attention projections found in this encoder")
    model.encoder = get_peft_model(
        model.encoder, LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.05, target_modules=targets)
    )


def _merge_lora(model: TaggerModel) -> None:
    if hasattr(model.encoder, "merge_and_unload"):
        model.encoder = model.encoder.merge_and_unload()


def continue_from(
    directory: Path, vocab: TagVocabulary, prior_logit: torch.Tensor, opts: TrainOptions
) -> tuple[TaggerModel, object]:
    """A trained model (its encoder and head) to continue from: the head keeps the rows of the tags it
    had, and gets new rows (bias at the tag's prior) for the tags `vocab` appends."""
    model, tokenizer = TaggerModel.load(directory)
    old = TagVocabulary.load(directory).tags
    if vocab.tags[: len(old)] != old:
        raise ArtifactError(f"{directory}: the vocabulary must start with the model's {len(old)} tags")
    head = nn.Linear(model.head.in_features, len(vocab))
    with torch.no_grad():
        head.weight.mul_(0.1)
        head.bias.copy_(prior_logit)
        head.weight[: len(old)] = model.head.weight
        head.bias[: len(old)] = model.head.bias
    model.head = head
    model.config = replace(model.config, n_tags=len(vocab), max_length=opts.max_length, dropout=opts.dropout)
    model.dropout.p = opts.dropout
    model.cpu()
    return model, tokenizer


def train_model(
    train_texts: list[str] | Callable[[random.Random], list[str]],
    y_train: np.ndarray,
    val_texts: list[str],
    y_val: np.ndarray,
    vocab: TagVocabulary,
    opts: TrainOptions,
    *,
    progress: bool = True,
    extract_labels: tuple[str, ...] = (),
    train_tags: list[list[str]] | None = None,
    soft_targets: np.ndarray | None = None,
    checkpoint_to: Path | None = None,
) -> TrainResult:
    """With `extract_labels` (and the train items' `train_tags`, whose `key:value` values written in
    the text are the token labels), a token head learns attribute extraction jointly: the loss is the
    tag loss plus `opts.extract_weight` times the token cross-entropy. With `soft_targets` (a teacher's
    scores, `trainer.distill`) the tag loss also pulls toward them, by `opts.teacher_weight`. After
    each epoch the run is checkpointed into `checkpoint_to` (when given); `opts.resume` names a
    checkpoint directory to continue from (`trainer.checkpoint`)."""
    if not isinstance(opts.max_length, int):
        raise ValueError("train_model needs a token budget: --max-length auto is chosen by trainer.text_budget")
    seed_everything(opts.seed)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    # Start the head at each tag's prior, so that rare tags begin near their base rate.
    prior = y_train.mean(0).clip(1e-4, 1 - 1e-4)
    prior_logit = torch.tensor(np.log(prior / (1 - prior)), dtype=torch.float32)
    if opts.init_from:
        model, tokenizer = continue_from(Path(opts.init_from), vocab, prior_logit, opts)
        base = model.config.base_model
    else:
        base = resolve_base_model(opts.base_model)
        tokenizer = load_tokenizer(base)
        model = TaggerModel.from_base(base, len(vocab), opts.max_length, opts.dropout)
        with torch.no_grad():
            model.head.bias.copy_(prior_logit)
    if extract_labels and train_tags is None:
        raise ValueError("extraction needs the train items' tags")
    if model.config.extract_labels != tuple(extract_labels):  # a continued model keeps a head of the same labels
        model.with_extraction(tuple(extract_labels))
    model.freeze_layers(opts.freeze_layers if opts.freeze_layers == "all" else int(opts.freeze_layers))
    if opts.lora:
        _apply_lora(model, opts.lora_r)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total_params = sum(p.numel() for p in model.parameters())
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def epoch_ids(epoch: int) -> tuple[list[list[int]], list[list[int]]]:
        texts = train_texts(random.Random(opts.seed * 1000 + epoch)) if callable(train_texts) else train_texts
        if not extract_labels:
            return tokenize(tokenizer, texts, opts.max_length), []
        ids, offsets = extraction.encode(tokenizer, texts, opts.max_length)
        assert train_tags is not None
        return ids, extraction.token_labels(offsets, texts, train_tags, extract_labels)

    train_ids, train_labels = epoch_ids(1)
    y_train_t = torch.tensor(y_train, dtype=torch.float32)
    hard_loss = make_loss(opts, y_train).to(device)
    soft_t = None if soft_targets is None else torch.tensor(soft_targets, dtype=torch.float32)
    distilled = DistilledLoss(hard_loss, opts.teacher_weight).to(device)

    def loss_fn(logits: torch.Tensor, b: list[int]) -> torch.Tensor:
        labels = y_train_t[b].to(device)
        if soft_t is None:
            return hard_loss(logits, labels)
        return distilled(logits, labels, soft_t[b].to(device))

    optimizer = torch.optim.AdamW(param_groups(model, opts))
    steps_per_epoch = math.ceil(len(y_train) / opts.batch_size)
    total = steps_per_epoch * opts.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(opts.warmup_ratio * total), total)

    history: list[EpochRecord] = []
    best_f1, best_epoch, best_state, stale = -1.0, 0, None, 0
    fingerprint = checkpoint.data_fingerprint(y_train, y_val, vocab.tags, len(val_texts))
    start_epoch, stopped, seconds_before = 1, False, 0.0
    if opts.resume:
        state = checkpoint.load(Path(opts.resume), opts, fingerprint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        done = checkpoint.Progress(**state["progress"])
        history = [EpochRecord(**h) for h in done.history]
        best_f1, best_epoch, stale, stopped = done.best_f1, done.best_epoch, done.stale, done.stopped
        best_state = state["best_state"] or copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        start_epoch, seconds_before = done.epoch + 1, done.seconds
        log.info("resuming %s after epoch %d of %d", opts.resume, done.epoch, opts.epochs)
        if progress:
            tqdm.write(f"resuming after epoch {done.epoch} (best epoch {best_epoch}, val micro-F1 {best_f1:.4f})")
    t_start = time.perf_counter() - seconds_before
    bar = progress_bar(total=total, desc="train", unit="batch", disable=not progress, mininterval=0.5)
    bar.update(steps_per_epoch * (start_epoch - 1))
    mixed = opts.precision == "bf16" and device.type == "cuda"
    for epoch in range(start_epoch, opts.epochs + 1):
        if stopped:
            break
        t_epoch = time.perf_counter()
        model.train()
        if callable(train_texts) and epoch > 1:
            train_ids, train_labels = epoch_ids(epoch)
        batches = length_sorted_batches(
            [len(x) for x in train_ids], opts.batch_size, shuffle=True, seed=opts.seed + epoch
        )
        running, seen = 0.0, 0
        for b, input_ids, mask in iter_padded(train_ids, batches, tokenizer.pad_token_id):
            # bf16 autocast on a GPU (TrainOptions.precision)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=mixed):
                if extract_labels:
                    logits, tok_logits = model.forward_all(input_ids.to(device), mask.to(device))
                    assert tok_logits is not None
                    tok_target = extraction.pad_labels([train_labels[i] for i in b], input_ids.shape[1]).to(device)
                    tok_loss = nn.functional.cross_entropy(
                        tok_logits.reshape(-1, tok_logits.shape[-1]),
                        tok_target.reshape(-1),
                        ignore_index=extraction.IGNORE,
                    )
                    loss = loss_fn(logits, b) + opts.extract_weight * tok_loss
                else:
                    logits = model(input_ids.to(device), mask.to(device))
                    loss = loss_fn(logits, b)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if opts.grad_clip > 0:
                nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], opts.grad_clip)
            optimizer.step()
            scheduler.step()
            running += loss.item() * len(b)
            seen += len(b)
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{running / seen:.4f}", best_f1=f"{max(best_f1, 0):.3f}")
        probs = predict_proba(model, tokenizer, val_texts, max_length=opts.max_length)
        with torch.no_grad():
            logits_val = torch.logit(torch.tensor(probs).clamp(1e-6, 1 - 1e-6))
            val_loss = float(nn.functional.binary_cross_entropy_with_logits(logits_val, torch.tensor(y_val)))
        thr, f1 = best_global_threshold(y_val, probs)
        record = EpochRecord(epoch, running / max(seen, 1), val_loss, f1, thr, time.perf_counter() - t_epoch)
        history.append(record)
        bar.set_postfix(epoch=epoch, loss=f"{record.train_loss:.4f}", val_f1=f"{f1:.3f}")
        log.info(
            "epoch %d: train_loss=%.4f val_loss=%.4f val_micro_f1=%.4f (thr %.3f)",
            epoch,
            record.train_loss,
            val_loss,
            f1,
            thr,
        )
        if progress:
            tqdm.write(
                f"epoch {epoch}: train loss {record.train_loss:.4f}  val loss {val_loss:.4f}  val micro-F1 {f1:.4f}"
            )
        if f1 > best_f1 + 1e-4:
            best_f1, best_epoch, stale = f1, epoch, 0
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            stale += 1
            stopped = stale >= opts.patience
        if checkpoint_to is not None:
            checkpoint.save(
                checkpoint_to,
                opts=opts,
                fingerprint=fingerprint,
                progress=checkpoint.Progress(
                    epoch,
                    [asdict(h) for h in history],
                    best_f1,
                    best_epoch,
                    stale,
                    stopped,
                    time.perf_counter() - t_start,
                ),
                model=model,
                optimizer=optimizer,
                scheduler=scheduler,
                best_state=best_state,
            )
        if stopped:
            if progress:
                tqdm.write(f"early stop: no val micro-F1 gain for {opts.patience} epochs (best epoch {best_epoch})")
            break
    bar.close()
    assert best_state is not None
    model.load_state_dict(best_state)
    if opts.lora:
        _merge_lora(model)
    model.eval()
    probs = predict_proba(model, tokenizer, val_texts, max_length=opts.max_length)
    thresholds = tune_thresholds(y_val, probs, vocab.tags, min_support=opts.threshold_min_support)
    return TrainResult(
        model,
        tokenizer,
        thresholds,
        probs,
        history,
        best_epoch,
        time.perf_counter() - t_start,
        opts.model_dump() | {"base_model": base},
        trainable,
        total_params,
        peak_memory_mb(device),
    )
