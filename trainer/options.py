"""Every training option, declared once: its type, default, bounds and help text.

`tagstream train` builds its command-line options from this model, `run_training` reads it, and the
model card records it, so a default lives in one place.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class TrainOptions(BaseModel):
    """Options of one training run (everything except the data paths and the output directory)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_model: str | None = Field(
        None,
        description="an encoder name (all-minilm-l6-v2, the default; all-mpnet-base-v2 from its five part "
        "packages) or a local model directory",
    )
    epochs: int = Field(8, ge=1, description="most epochs to train (early stopping may end sooner)")
    batch_size: int = Field(32, ge=1, description="items per training batch")
    max_length: Annotated[int, Field(ge=8)] | Literal["auto"] = Field(
        64,
        description="max tokens of model text (title, brand, attributes, then the description as far as it fits); "
        "auto = 64, 128 or 256, chosen on validation (trains once per budget the train texts need)",
    )
    lr: float = Field(8e-5, gt=0, description="encoder learning rate")
    head_lr: float = Field(3e-3, gt=0, description="head learning rate")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (none on biases and norms)")
    warmup_ratio: float = Field(0.06, ge=0, le=1, description="share of steps with linear warmup")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout before the head")
    grad_clip: float = Field(1.0, ge=0, description="gradient norm clipping (0 = off)")
    patience: int = Field(2, ge=1, description="epochs without val micro-F1 gain before stopping")
    freeze_layers: str = Field(
        "0", description="0 = full fine-tuning, K = freeze embeddings + first K layers, all = head only"
    )
    loss: Literal["bce", "focal"] = Field("bce", description="bce or focal")
    focal_gamma: float = Field(2.0, ge=0, description="focal loss gamma")
    pos_weight_cap: float = Field(
        0.0, ge=0, description="0 = off; else rare-tag positive weight sqrt(neg/pos) capped here"
    )
    lora: bool = Field(False, description="train a LoRA adapter instead of all encoder weights (merged on save)")
    lora_r: int = Field(8, ge=1, description="LoRA rank")
    field_dropout: float = Field(
        0.2,
        ge=0,
        le=1,
        description="per epoch, leave out brand/description/attributes of a train item with this probability",
    )
    min_tag_count: int = Field(5, ge=1, description="tags with fewer train items are dropped")
    max_items: int | None = Field(None, ge=1, description="use only the first N train items")
    few_shot: int | None = Field(None, ge=1, description="keep about K train items per tag")
    threshold_min_support: int = Field(3, ge=1, description="validation positives a tag needs for its own threshold")
    hierarchy: Literal["auto", "none", "prune", "complete"] = Field(
        "auto",
        description="tags that form a tree (category:A>B): auto = the decoding (none, prune or complete) with the "
        "best validation score",
    )
    init_from: str | None = Field(
        None,
        description="continue from a model directory or a served version (triton_repo/<model>/N, torch backend): "
        "its weights and tags; new tags are appended",
    )
    replay: str | None = Field(None, description="with --init-from: old training data (JSON lines) to replay")
    teacher: str | None = Field(
        None,
        description="distil from a teacher: a model directory from `tagstream train`, or an .npz of its scores "
        "on the train items (`scores`, `tags`; rows in the train file's order)",
    )
    unlabelled: str | None = Field(
        None,
        description="with --teacher (a model directory): more items, JSON lines with or without tags (tags are "
        "ignored), that the student learns from the teacher's scores alone",
    )
    teacher_weight: float = Field(
        0.5, gt=0, lt=1, description="with --teacher: weight of the loss toward the teacher's scores"
    )
    replay_ratio: float = Field(0.5, ge=0, description="replayed old items per new train item")
    extract: str = Field(
        "none",
        description="attribute extraction, trained jointly: none, auto (the keys whose values the train text "
        "holds, see `tagstream spans`) or comma-separated keys",
    )
    extract_weight: float = Field(
        0.1, gt=0, description="weight of the token loss against the tag loss (0.1: measured on myntra)"
    )
    seed: int = Field(13, description="random seed (runs are repeatable)")
    precision: Literal["fp32", "bf16"] = Field(
        "fp32",
        description="bf16: mixed-precision training on a CUDA GPU (several times faster there; a CPU trains in fp32)",
    )
    threads: int | None = Field(None, ge=1, description="torch CPU threads")
    resume: str | None = Field(
        None,
        description="continue a stopped run from its checkpoint directory (OUT.checkpoint, written after each "
        "epoch), with the same data and options",
    )
    checkpoint: bool = Field(
        True,
        description="write OUT.checkpoint after each epoch (about 4x the model's size; removed when the run ends), "
        "so that --resume can continue a stopped run",
    )
    strict: bool = Field(False, description="fail on the first bad row instead of skipping it")
    references: bool = Field(True, description="also train the head-only and TF-IDF reference models")
    blend: Literal["auto", "off"] = Field(
        "auto",
        description="auto: serve w * model + (1 - w) * TF-IDF reference, w chosen on validation, when that "
        "helps there (needs the references); off: the fine-tuned model alone",
    )

    @field_validator("max_length", mode="before")
    @classmethod
    def _max_length(cls, v: object) -> object:
        if isinstance(v, str) and v.strip() != "auto":
            try:
                return int(v)
            except ValueError:
                raise ValueError(f"takes a number of tokens (at least 8) or 'auto', not {v!r}") from None
        return v.strip() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _resume_needs_a_budget(self) -> TrainOptions:
        if self.resume and self.max_length == "auto":
            raise ValueError(
                "--resume: not with --max-length auto (each budget is a run of its own); "
                "resume with the --max-length the stopped run was training"
            )
        return self

    @model_validator(mode="after")
    def _unlabelled_needs_a_teacher(self) -> TrainOptions:
        if self.unlabelled and not self.teacher:
            raise ValueError("--unlabelled: needs --teacher (the teacher's scores are what those items teach)")
        if self.unlabelled and self.teacher and self.teacher.endswith(".npz"):
            raise ValueError(
                "--unlabelled: needs a teacher model directory that can score them (an .npz holds scores for the "
                "train items only)"
            )
        return self

    @field_validator("freeze_layers")
    @classmethod
    def _freeze_layers(cls, v: str) -> str:
        if v != "all" and not v.isdigit():
            raise ValueError("takes a number of layers or 'all'")
        return v
