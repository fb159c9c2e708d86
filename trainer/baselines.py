"""The two reference points that every evaluation reports next to the fine-tuned model.

- head-only: the *base* encoder, frozen, with only a linear head trained on its pooled embeddings
  (what fine-tuning adds over a frozen encoder);
- TF-IDF: word 1-2 gram + character 2-5 gram TF-IDF with one-vs-rest logistic regression (a strong
  baseline on short titles).
Both are trained on the same train split, with thresholds tuned on the same validation split.
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import torch
from safetensors.torch import load_file, save_file
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from torch import nn

from tagstream.core.artifact import Thresholds
from tagstream.trainer.model import TaggerModel, load_tokenizer
from tagstream.trainer.predict import embed_texts
from tagstream.trainer.thresholds import best_global_threshold, tune_thresholds
from tagstream.trainer.triton_backend.tfidf_blend import TFIDF_CONFIG, TFIDF_WEIGHTS

HEAD_ONLY_DIR = "head_only"
# The TF-IDF reference is stored as data (JSON + safetensors), never pickled: loading a model
# directory from an untrusted source must not run code. The served blend scores the same files with
# numpy alone (triton_backend/tfidf_blend.py).
_VECTORIZER_PARAMS = (
    "analyzer",
    "ngram_range",
    "min_df",
    "sublinear_tf",
    "lowercase",
    "max_features",
    "token_pattern",
)
_CONSTANT_LOGIT = 30.0  # a tag positive (or negative) for every train item: a constant score


class TfidfBaseline:
    def __init__(self, C: float = 8.0, n_jobs: int = -1):
        self.word = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, lowercase=True)
        self.char = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True, max_features=200_000
        )
        self.clf = OneVsRestClassifier(LogisticRegression(C=C, solver="liblinear", max_iter=200), n_jobs=n_jobs)
        self.thresholds: Thresholds | None = None
        self.tags: list[str] = []

    def _features(self, texts: list[str], fit: bool = False):
        if fit:
            return hstack([self.word.fit_transform(texts), self.char.fit_transform(texts)]).tocsr()
        return hstack([self.word.transform(texts), self.char.transform(texts)]).tocsr()

    def fit(
        self, texts: list[str], y: np.ndarray, val_texts: list[str], y_val: np.ndarray, tags: list[str]
    ) -> TfidfBaseline:
        # scikit-learn's one-vs-rest numbers the tag columns in the labels' dtype: with int8 labels and
        # over 127 tags the numbers wrap and the columns are fitted to the wrong tags (seen on myntra:
        # positives scored 0.01, negatives 0.05), so the labels are made float whatever their dtype
        y = np.asarray(y, dtype=np.float32)
        keep = y.sum(0) > 0  # a tag with no train positives cannot be fitted; it scores 0
        self._keep = keep
        # Worker processes without memmapping: liblinear is not thread-safe (heap corruption seen with
        # 16 threads) and rejects the read-only memmaps joblib would hand to processes by default.
        with joblib.parallel_config(backend="loky", max_nbytes=None):
            self.clf.fit(self._features(texts, fit=True), y[:, keep])
        self.tags = tags
        self.val_scores = self.scores(val_texts)
        self.thresholds = tune_thresholds(y_val, self.val_scores, tags)
        return self

    def scores(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self._keep)), dtype=np.float32)
        features = self._features(texts)
        if hasattr(self, "_coef"):  # loaded from disk: the same logistic regressions, as matrices
            logits = np.asarray(features @ self._coef.T) + self._intercept
            out[:, self._keep] = 1.0 / (1.0 + np.exp(-logits))
            return out
        with joblib.parallel_config(backend="loky", max_nbytes=None):
            out[:, self._keep] = self.clf.predict_proba(features)
        return out

    def save(self, directory: Path) -> None:
        """Vocabularies, IDF weights and the per-tag logistic regressions, as JSON and safetensors."""
        coef, intercept = [], []
        for est in self.clf.estimators_:
            if hasattr(est, "coef_"):
                coef.append(np.asarray(est.coef_, dtype=np.float32).ravel())
                intercept.append(float(est.intercept_[0]))
            else:  # sklearn's constant predictor: the tag is on (or off) for every train item
                coef.append(np.zeros(len(self.word.vocabulary_) + len(self.char.vocabulary_), dtype=np.float32))
                intercept.append(_CONSTANT_LOGIT if float(est.y_) > 0.5 else -_CONSTANT_LOGIT)
        config = {
            "format": 1,
            "tags": self.tags,
            "keep": [bool(k) for k in self._keep],
            "thresholds": json.loads(self.thresholds.model_dump_json(by_alias=True)) if self.thresholds else None,
            "vectorizers": {
                name: {
                    "params": {k: v for k, v in vec.get_params().items() if k in _VECTORIZER_PARAMS},
                    "vocabulary": {term: int(i) for term, i in vec.vocabulary_.items()},
                }
                for name, vec in (("word", self.word), ("char", self.char))
            },
        }
        (directory / TFIDF_CONFIG).write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
        tensors = {
            "word_idf": torch.tensor(self.word.idf_, dtype=torch.float32),
            "char_idf": torch.tensor(self.char.idf_, dtype=torch.float32),
            "coef": torch.tensor(np.stack(coef)),
            "intercept": torch.tensor(intercept, dtype=torch.float32),
        }
        save_file(tensors, str(directory / TFIDF_WEIGHTS))

    @classmethod
    def load(cls, directory: Path) -> TfidfBaseline:
        config = json.loads((directory / TFIDF_CONFIG).read_text(encoding="utf-8"))
        tensors = load_file(str(directory / TFIDF_WEIGHTS))
        self = cls()
        for name in ("word", "char"):
            spec = config["vectorizers"][name]
            params = dict(spec["params"], ngram_range=tuple(spec["params"]["ngram_range"]))
            vec = TfidfVectorizer(**params, vocabulary=spec["vocabulary"])
            vec.idf_ = tensors[f"{name}_idf"].numpy().astype(np.float64)
            setattr(self, name, vec)
        self.tags = config["tags"]
        self._keep = np.array(config["keep"], dtype=bool)
        self.thresholds = Thresholds.model_validate(config["thresholds"]) if config["thresholds"] else None
        self._coef = tensors["coef"].numpy()
        self._intercept = tensors["intercept"].numpy()
        return self


class HeadOnlyBaseline:
    """A linear head on frozen, mean-pooled base-encoder embeddings."""

    def __init__(self, base_model: str, max_length: int):
        self.base_model = base_model
        self.max_length = max_length
        self.head: nn.Linear | None = None
        self.thresholds: Thresholds | None = None
        self._encoder: TaggerModel | None = None

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self._encoder is None:
            self._encoder = TaggerModel.from_base(self.base_model, 1, self.max_length)
            if torch.cuda.is_available():
                self._encoder.to("cuda")
            self._tokenizer = load_tokenizer(self.base_model)
        return embed_texts(self._encoder, self._tokenizer, texts, max_length=self.max_length)

    def fit(
        self,
        texts,
        y,
        val_texts,
        y_val,
        tags,
        *,
        epochs: int = 60,
        lr: float = 3e-3,
        seed: int,
        patience: int = 6,
    ) -> HeadOnlyBaseline:
        torch.manual_seed(seed)
        x, xv = torch.tensor(self._embed(texts)), torch.tensor(self._embed(val_texts))
        yt = torch.tensor(y)
        head = nn.Linear(x.shape[1], y.shape[1])
        prior = y.mean(0).clip(1e-4, 1 - 1e-4)
        with torch.no_grad():
            head.bias.copy_(torch.tensor(np.log(prior / (1 - prior)), dtype=torch.float32))
        opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
        loss_fn = nn.BCEWithLogitsLoss()
        g = torch.Generator().manual_seed(seed)
        best, best_state, stale = -1.0, None, 0
        for _ in range(epochs):
            perm = torch.randperm(len(x), generator=g)
            for s in range(0, len(x), 256):
                b = perm[s : s + 256]
                loss = loss_fn(head(x[b]), yt[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                pv = torch.sigmoid(head(xv)).numpy()
            _, f1 = best_global_threshold(y_val, pv)
            if f1 > best + 1e-4:
                best, best_state, stale = f1, {k: v.clone() for k, v in head.state_dict().items()}, 0
            else:
                stale += 1
                if stale >= patience:
                    break
        head.load_state_dict(best_state)
        self.head = head.eval()
        self.val_scores = self._scores_from(xv)
        self.thresholds = tune_thresholds(y_val, self.val_scores, tags)
        return self

    def _scores_from(self, x: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return torch.sigmoid(self.head(x)).numpy()

    def scores(self, texts: list[str]) -> np.ndarray:
        return self._scores_from(torch.tensor(self._embed(texts)))

    def save(self, directory: Path) -> None:
        d = directory / HEAD_ONLY_DIR
        d.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.head.state_dict().items()}, str(d / "head.safetensors"))
        self.thresholds.save(d)
        (d / "config.json").write_text(
            json.dumps({"base_model": self.base_model, "max_length": self.max_length}), encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path) -> HeadOnlyBaseline:
        d = directory / HEAD_ONLY_DIR
        cfg = json.loads((d / "config.json").read_text(encoding="utf-8"))
        self = cls(cfg["base_model"], cfg["max_length"])
        state = load_file(str(d / "head.safetensors"))
        self.head = nn.Linear(state["weight"].shape[1], state["weight"].shape[0])
        self.head.load_state_dict(state)
        self.head.eval()
        self.thresholds = Thresholds.load(d)
        return self
