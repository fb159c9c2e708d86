"""Async gRPC client for the product tagger on Triton.

- bounded per-request timeouts, retries with exponential backoff on `TritonTimeout` and
  `ModelUnavailable`, and no retry on `BadInput` / `ServerError`;
- tag names and thresholds are read from the model itself, once per model version actually
  served (the response says which version answered), so a hot swap needs no restart.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from stream.errors import BadInput, ModelUnavailable, ServerError, TritonClientError, TritonTimeout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    tags: tuple[str, ...]
    thresholds: np.ndarray


@dataclass(frozen=True)
class ScoredBatch:
    scores: np.ndarray  # (n, n_tags)
    model: ModelInfo


def classify_error(e: InferenceServerException) -> TritonClientError:
    status = str(e.status() or "")
    msg = e.message() or str(e)
    low = msg.lower()
    if "DEADLINE_EXCEEDED" in status or "deadline exceeded" in low or "timeout" in low and "queue" in low:
        return TritonTimeout(msg)
    if any(s in low for s in ("unknown model", "no available versions", "is not ready", "not found", "unavailable", "failed to connect", "connection refused", "exceeds maximum queue size")):
        return ModelUnavailable(msg)
    if "UNAVAILABLE" in status or "NOT_FOUND" in status or "CANCELLED" in status:
        return ModelUnavailable(msg)
    if "bad input" in low or "INVALID_ARGUMENT" in status:
        return BadInput(msg)
    return ServerError(f"{status}: {msg}" if status else msg)


class TritonTagger:
    def __init__(
        self,
        url: str,
        model_name: str = "product_tagger",
        *,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
        max_batch_size: int | None = None,
        request_items: int | None = None,
    ):
        self.url = url
        self.model_name = model_name
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._max_batch = max_batch_size
        # Split a call into concurrent requests of at most this many texts, so that several model
        # instances work on one micro-batch (None: the model's max batch size).
        self.request_items = request_items
        self._client = grpcclient.InferenceServerClient(url)
        self._info: dict[str, ModelInfo] = {}
        self._info_lock = asyncio.Lock()

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> "TritonTagger":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def ready(self) -> bool:
        try:
            return bool(await self._client.is_model_ready(self.model_name))
        except InferenceServerException:
            return False
        except Exception:  # connection errors surface as grpc errors
            return False

    async def max_batch_size(self) -> int:
        if self._max_batch is None:
            cfg = await self._call(lambda: self._client.get_model_config(self.model_name, as_json=True))
            self._max_batch = int(cfg["config"].get("max_batch_size") or 0) or 1
        return self._max_batch

    async def ready_versions(self) -> list[int]:
        """The model's versions that are loaded and ready now, ascending."""
        meta = await self._call(lambda: self._client.get_model_metadata(self.model_name, as_json=True))
        return sorted(int(v) for v in meta.get("versions", []))

    async def _call(self, fn):
        """Run one client call with retries on retryable errors."""
        attempt = 0
        while True:
            try:
                return await fn()
            except InferenceServerException as e:
                err = classify_error(e)
            except asyncio.TimeoutError:
                err = TritonTimeout(f"no answer within {self.timeout_s} s")
            if not isinstance(err, (TritonTimeout, ModelUnavailable)) or attempt >= self.retries:
                raise err
            delay = min(self.max_backoff_s, self.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
            log.warning("triton %s (attempt %d/%d), retrying in %.2f s: %s", type(err).__name__, attempt + 1, self.retries + 1, delay, err)
            attempt += 1
            await asyncio.sleep(delay)

    @staticmethod
    def _text_input(texts: Sequence[str | bytes]) -> grpcclient.InferInput:
        arr = np.array([[t.encode("utf-8") if isinstance(t, str) else t] for t in texts], dtype=np.object_)
        inp = grpcclient.InferInput("TEXT", [len(texts), 1], "BYTES")
        inp.set_data_from_numpy(arr.reshape(len(texts), 1))
        return inp

    async def _infer_raw(self, texts: Sequence[str | bytes], outputs: Sequence[str], version: str = ""):
        async def go():
            return await self._client.infer(
                self.model_name,
                [self._text_input(texts)],
                model_version=version,
                outputs=[grpcclient.InferRequestedOutput(o) for o in outputs],
                client_timeout=self.timeout_s,
            )

        return await self._call(go)

    async def model_info(self, version: str) -> ModelInfo:
        """Tag names and thresholds of one model version (cached)."""
        if version in self._info:
            return self._info[version]
        async with self._info_lock:
            if version not in self._info:
                res = await self._infer_raw([""], ["TAG_NAMES", "TAG_THRESHOLDS"], version=version)
                names = tuple(x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in res.as_numpy("TAG_NAMES")[0])
                self._info[version] = ModelInfo(self.model_name, version, names, res.as_numpy("TAG_THRESHOLDS")[0].astype(np.float32))
        return self._info[version]

    async def infer(self, texts: Sequence[str | bytes]) -> ScoredBatch:
        """Scores for texts, split into requests of at most the model's max batch size. All chunks
        must be answered by one model version; if a swap happens mid-call, the call is retried once
        so that one batch never mixes versions."""
        if len(texts) == 0:
            raise BadInput("empty batch: nothing to tag")
        for _ in range(2):
            mb = await self.max_batch_size()
            if self.request_items:
                mb = min(mb, self.request_items)
            chunks = [texts[i : i + mb] for i in range(0, len(texts), mb)]
            results = await asyncio.gather(*(self._infer_raw(c, ["SCORES"]) for c in chunks))
            versions = {r.get_response().model_version for r in results}
            if len(versions) == 1:
                version = versions.pop()
                info = await self.model_info(version)
                scores = np.concatenate([r.as_numpy("SCORES") for r in results]).astype(np.float32)
                if scores.shape[1] != len(info.tags):
                    raise ServerError(f"version {version} returned {scores.shape[1]} scores for {len(info.tags)} tags")
                return ScoredBatch(scores, info)
        raise ModelUnavailable(f"model versions changed during the call ({sorted(versions)})")

    async def tag(self, texts: Sequence[str]) -> tuple[list[list[tuple[str, float]]], ModelInfo]:
        from tagstream.artifact import decode_tags

        batch = await self.infer(texts)
        return decode_tags(batch.scores, list(batch.model.tags), batch.model.thresholds), batch.model


class VersionWatcher:
    """Which model version Triton serves now (the highest ready one), asked at most every
    `interval_s` seconds; cache keys are built with it before any inference happens."""

    def __init__(self, tagger: TritonTagger, interval_s: float = 1.0):
        self.tagger = tagger
        self.interval_s = interval_s
        self._version: str | None = None
        self._checked = 0.0

    def observe(self, version: str) -> None:
        """A response told us which version answered; newer wins."""
        if self._version is None or int(version) > int(self._version):
            self._version = version

    async def current(self) -> str:
        loop = asyncio.get_running_loop()
        if self._version is None or loop.time() - self._checked >= self.interval_s:
            versions = await self.tagger.ready_versions()
            if not versions:
                raise ModelUnavailable(f"{self.tagger.model_name} has no ready version")
            self._version = str(versions[-1])
            self._checked = loop.time()
        return self._version
