"""In-process inference with a saved model: probabilities, and tags above threshold."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from tagstream.core.artifact import TagVocabulary, Thresholds, decode_tags
from tagstream.core.hierarchy import TagHierarchy
from tagstream.trainer.batching import iter_padded, length_sorted_batches, tokenize, unsort
from tagstream.trainer.blend import load_blend
from tagstream.trainer.extraction import Extracted, extract
from tagstream.trainer.model import TaggerModel


@torch.inference_mode()
def predict_proba(
    model: TaggerModel,
    tokenizer,
    texts: Sequence[str],
    *,
    batch_size: int = 128,
    max_length: int | None = None,
) -> np.ndarray:
    model.eval()
    if not texts:
        return np.zeros((0, model.config.n_tags), dtype=np.float32)
    ids = tokenize(tokenizer, texts, max_length or model.config.max_length)
    batches = length_sorted_batches([len(x) for x in ids], batch_size, shuffle=False)
    device = next(model.parameters()).device
    rows = []
    for _, input_ids, mask in iter_padded(ids, batches, tokenizer.pad_token_id):
        logits = model(input_ids.to(device), mask.to(device))
        rows.append(torch.sigmoid(logits).float().cpu().numpy())
    return unsort(rows, batches, len(texts))


@torch.inference_mode()
def embed_texts(
    model: TaggerModel, tokenizer, texts: Sequence[str], *, batch_size: int = 128, max_length: int
) -> np.ndarray:
    """Pooled encoder embeddings (used for the head-only reference)."""
    model.eval()
    ids = tokenize(tokenizer, texts, max_length)
    batches = length_sorted_batches([len(x) for x in ids], batch_size, shuffle=False)
    device = next(model.parameters()).device
    rows = [
        model.embed(i.to(device), m.to(device)).float().cpu().numpy()
        for _, i, m in iter_padded(ids, batches, tokenizer.pad_token_id)
    ]
    return unsort(rows, batches, len(texts))


class LocalModel:
    """A loaded model directory: scores and thresholded tags for texts. A directory with a blend
    (`blend.json`) scores as its served versions do: the fine-tuned model blended with TF-IDF."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.model, self.tokenizer = TaggerModel.load(self.directory)
        self.vocab = TagVocabulary.load(self.directory)
        self.thresholds = Thresholds.load(self.directory)
        self._thr = self.thresholds.vector(self.vocab.tags)
        self.hierarchy = TagHierarchy.load(self.directory)
        self.blend = load_blend(self.directory, self.vocab.tags)

    def transformer_scores(self, texts: Sequence[str], batch_size: int = 128) -> np.ndarray:
        """The fine-tuned model's own scores, without the blend."""
        return predict_proba(self.model, self.tokenizer, texts, batch_size=batch_size)

    def scores(self, texts: Sequence[str], batch_size: int = 128) -> np.ndarray:
        scores = self.transformer_scores(texts, batch_size)
        return self.blend(list(texts), scores) if self.blend else scores

    @property
    def extracts(self) -> bool:
        return self.model.extract_head is not None

    def extract(self, texts: Sequence[str]) -> list[list[Extracted]]:
        """The attributes written in each text (empty lists for a model without extraction)."""
        return extract(self.model, self.tokenizer, texts)

    def tags(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        return decode_tags(self.scores(texts), self.vocab.tags, self._thr, self.hierarchy)
