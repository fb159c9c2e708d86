"""Async gRPC client for the product tagger on Triton.

- bounded per-request deadlines; retries with jittered exponential backoff on `Retryable` errors
  (timeout, unavailable, queue full), none on `BadInput` / `ServerError`;
- tritonclient's exceptions are mapped to tagstream's errors in one place (`classify_error`);
- tag names and thresholds are read from the model itself, once per version that answers;
- the serving version (the highest ready one) is tracked here and nowhere else: asked at most every
  `version_check_s`, and raised as soon as a response comes from a newer version, so a hot swap
  needs no restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.grpc._client import MAX_GRPC_MESSAGE_SIZE
from tritonclient.utils import InferenceServerException

from tagstream.core.artifact import decode_tags
from tagstream.core.hierarchy import TagHierarchy
from tagstream.core.names import (
    ATTRIBUTE_KEYS_OUTPUT,
    ATTRIBUTES_OUTPUT,
    SCORES_OUTPUT,
    TAG_HIERARCHY_OUTPUT,
    TAG_NAMES_OUTPUT,
    TAG_THRESHOLDS_OUTPUT,
    TEXT_INPUT,
)
from tagstream.stream.errors import (
    BadInput,
    ModelUnavailable,
    QueueFull,
    Retryable,
    ServerError,
    TritonClientError,
    TritonTimeout,
)
from tagstream.stream.events import ATTRIBUTE_LIST, ExtractedAttribute
from tagstream.stream.settings import WorkerSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

_UNAVAILABLE = (
    "unknown model",
    "no available versions",
    "is not ready",
    "not found",
    "unavailable",
    "failed to connect",
    "connection refused",
)


#: tritonclient's own channel options, plus a short reconnect backoff: gRPC's default grows to 2 min,
#: so a worker would otherwise keep failing for up to that long after Triton came back.
CHANNEL_ARGS = [
    ("grpc.max_send_message_length", MAX_GRPC_MESSAGE_SIZE),
    ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE_SIZE),
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    tags: tuple[str, ...]
    thresholds: np.ndarray
    hierarchy: TagHierarchy | None = None  # the tag tree the version decodes with
    attribute_keys: tuple[str, ...] = ()  # the keys the version extracts (none: it only tags)


@dataclass(frozen=True)
class ScoredBatch:
    scores: np.ndarray  # (n, n_tags)
    model: ModelInfo
    attributes: list[list[ExtractedAttribute]] | None = None  # per text, from a version that extracts


def _text(cell: Any) -> str:
    """One cell of a BYTES tensor as text."""
    return cell.decode("utf-8") if isinstance(cell, bytes) else str(cell)


def _json_cells(arr: np.ndarray | None) -> list[Any]:
    """A BYTES [n, 1] tensor of JSON texts, decoded."""
    if arr is None:
        return []
    return [json.loads(_text(x)) for x in arr.reshape(-1)]


def classify_error(e: InferenceServerException) -> TritonClientError:
    """tritonclient's exception -> tagstream's error (the only translation)."""
    status = str(e.status() or "")
    msg = e.message() or str(e)
    low = msg.lower()
    if "DEADLINE_EXCEEDED" in status or "deadline exceeded" in low or ("timeout" in low and "queue" in low):
        return TritonTimeout(msg)
    if "exceeds maximum queue size" in low or "RESOURCE_EXHAUSTED" in status:
        return QueueFull(msg)
    if any(s in low for s in _UNAVAILABLE) or any(s in status for s in ("UNAVAILABLE", "NOT_FOUND", "CANCELLED")):
        return ModelUnavailable(msg)
    if "bad input" in low or "INVALID_ARGUMENT" in status:
        return BadInput(msg)
    return ServerError(f"{status}: {msg}" if status else msg)


class TritonInference:
    backoff_s = 0.2
    max_backoff_s = 5.0

    def __init__(
        self,
        url: str,
        model_name: str,
        *,
        timeout_s: float,
        retries: int,
        version_check_s: float,
        request_items: int | None = None,
        **tls: Any,
    ):
        """The timeouts have no defaults here: they are the worker's settings (`from_settings`)."""
        self.url = url
        self.model_name = model_name
        self.timeout_s = timeout_s
        self.retries = retries
        # Split a call into concurrent requests of at most this many texts, so that several model
        # instances work on one micro-batch (None: the model's max batch size).
        self.request_items = request_items
        self.version_check_s = version_check_s
        # tls: ssl, root_certificates, private_key, certificate_chain (tritonclient's gRPC TLS)
        self._client = grpcclient.InferenceServerClient(url, channel_args=CHANNEL_ARGS, **tls)
        self._max_batch: int | None = None
        self._info: dict[str, ModelInfo] = {}
        self._info_lock = asyncio.Lock()
        self._serving: str | None = None
        self._serving_checked = 0.0

    @classmethod
    def from_settings(cls, s: WorkerSettings) -> TritonInference:
        """The client of the worker's settings: TAGSTREAM_TRITON_URL, its timeouts and TLS files."""
        return cls(
            s.triton_url,
            s.model_name,
            timeout_s=s.triton_timeout_s,
            retries=s.triton_retries,
            version_check_s=s.version_check_s,
            request_items=s.triton_request_items,
            **s.triton_tls_kwargs(),
        )

    async def close(self) -> None:
        await self._client.close()

    async def unreachable(self) -> str | None:
        """Why the server does not answer (None: it is live, whatever its models' state)."""
        try:
            live = await asyncio.wait_for(self._client.is_server_live(), self.timeout_s)
        except InferenceServerException as e:
            return " ".join((e.message() or str(e)).split())[:200]
        except (TimeoutError, OSError) as e:
            return str(e) or f"no answer within {self.timeout_s} s"
        return None if live else "the server is not live"

    async def __aenter__(self) -> TritonInference:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def ready(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self._client.is_model_ready(self.model_name), self.timeout_s))
        except Exception:  # noqa: BLE001 - any failure (connection, deadline) means "not ready"
            return False

    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run one client call with retries on retryable errors."""
        attempt = 0
        while True:
            err: TritonClientError
            try:
                return await fn()
            except InferenceServerException as e:
                err = classify_error(e)
            except TimeoutError:
                err = TritonTimeout(f"no answer within {self.timeout_s} s")
            if not isinstance(err, Retryable) or attempt >= self.retries:
                raise err
            delay = min(self.max_backoff_s, self.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
            log.warning(
                "triton %s (attempt %d/%d), retrying in %.2f s: %s",
                type(err).__name__,
                attempt + 1,
                self.retries + 1,
                delay,
                err,
            )
            attempt += 1
            await asyncio.sleep(delay)

    async def max_batch_size(self) -> int:
        if self._max_batch is None:
            cfg = await self._call(lambda: self._client.get_model_config(self.model_name, as_json=True))
            self._max_batch = int(cfg["config"].get("max_batch_size") or 0) or 1
        return self._max_batch

    async def ready_versions(self) -> list[int]:
        """The model's versions that are loaded and ready now, ascending."""
        meta = await self._call(lambda: self._client.get_model_metadata(self.model_name, as_json=True))
        return sorted(int(v) for v in meta.get("versions", []))

    async def serving_version(self) -> str:
        """The version Triton serves now (the highest ready one), asked at most every
        `version_check_s` seconds. Cache keys are built with it before any inference."""
        now = asyncio.get_running_loop().time()
        if self._serving is None or now - self._serving_checked >= self.version_check_s:
            versions = await self.ready_versions()
            if not versions:
                raise ModelUnavailable(f"{self.model_name} has no ready version")
            self._serving, self._serving_checked = str(versions[-1]), now
        return self._serving

    def _observe(self, version: str) -> None:
        """A response came from `version`; a newer one than we knew is the serving one now."""
        if self._serving is None or int(version) > int(self._serving):
            self._serving = version

    @staticmethod
    def _text_input(texts: Sequence[str | bytes]) -> grpcclient.InferInput:
        arr = np.array([[t.encode("utf-8") if isinstance(t, str) else t] for t in texts], dtype=np.object_)
        inp = grpcclient.InferInput(TEXT_INPUT, [len(texts), 1], "BYTES")
        inp.set_data_from_numpy(arr.reshape(len(texts), 1))
        return inp

    async def _infer_raw(
        self, texts: Sequence[str | bytes], outputs: Sequence[str], version: str = ""
    ) -> grpcclient.InferResult:
        async def go() -> grpcclient.InferResult:
            return await self._client.infer(
                self.model_name,
                [self._text_input(texts)],
                model_version=version,
                outputs=[grpcclient.InferRequestedOutput(o) for o in outputs],
                client_timeout=self.timeout_s,
            )

        return await self._call(go)

    async def model_info(self, version: str) -> ModelInfo:
        """Tag names, thresholds and tag tree of one model version (cached)."""
        if version in self._info:
            return self._info[version]
        async with self._info_lock:
            if version not in self._info:
                wanted = [TAG_NAMES_OUTPUT, TAG_THRESHOLDS_OUTPUT, TAG_HIERARCHY_OUTPUT, ATTRIBUTE_KEYS_OUTPUT]
                # older versions lack outputs: no attribute keys (3 outputs), nor a tag tree (2)
                for n in (4, 3, 2):
                    try:
                        res = await self._infer_raw([""], wanted[:n], version=version)
                        break
                    except (BadInput, ServerError):
                        if n == 2:
                            raise
                names = tuple(_text(x) for x in res.as_numpy(TAG_NAMES_OUTPUT)[0])
                thresholds = res.as_numpy(TAG_THRESHOLDS_OUTPUT)[0].astype(np.float32)
                tree = res.as_numpy(TAG_HIERARCHY_OUTPUT)
                hierarchy = None
                if tree is not None:
                    raw = tree.reshape(-1)[0]
                    hierarchy = TagHierarchy.from_json(_text(raw))
                keys = _json_cells(res.as_numpy(ATTRIBUTE_KEYS_OUTPUT))
                attribute_keys = tuple(str(k) for k in keys[0]) if keys else ()
                self._info[version] = ModelInfo(self.model_name, version, names, thresholds, hierarchy, attribute_keys)
        return self._info[version]

    async def infer(self, texts: Sequence[str | bytes]) -> ScoredBatch:
        """Scores for texts, split into concurrent requests of at most `request_items` (and the
        model's max batch size). All chunks must be answered by one model version; if a swap happens
        mid-call, the call is retried once so that one batch never mixes versions."""
        if len(texts) == 0:
            raise BadInput("empty batch: nothing to tag")
        versions: set[str] = set()
        for _ in range(2):
            size = await self.max_batch_size()
            if self.request_items:
                size = min(size, self.request_items)
            chunks = [texts[i : i + size] for i in range(0, len(texts), size)]
            # the attributes only from a version that extracts them (the serving one, as far as we know)
            serving = await self.model_info(await self.serving_version())
            outputs = [SCORES_OUTPUT, ATTRIBUTES_OUTPUT] if serving.attribute_keys else [SCORES_OUTPUT]
            results = await asyncio.gather(*(self._infer_raw(c, outputs) for c in chunks))
            versions = {r.get_response().model_version for r in results}
            if len(versions) == 1:
                version = versions.pop()
                self._observe(version)
                info = await self.model_info(version)
                if info.attribute_keys and len(outputs) == 1:
                    continue  # a newer version that extracts answered: ask it again, attributes included
                scores = np.concatenate([r.as_numpy(SCORES_OUTPUT) for r in results]).astype(np.float32)
                if scores.shape[1] != len(info.tags):
                    raise ServerError(f"version {version} returned {scores.shape[1]} scores for {len(info.tags)} tags")
                attributes = None
                if info.attribute_keys:
                    try:
                        cells = [row for r in results for row in _json_cells(r.as_numpy(ATTRIBUTES_OUTPUT))]
                        attributes = [ATTRIBUTE_LIST.validate_python(c) for c in cells]
                    except ValueError as e:  # bad JSON or a bad attribute (pydantic's error is a ValueError)
                        raise ServerError(f"version {version} returned unreadable attributes: {e}") from None
                    if len(attributes) != len(texts):
                        raise ServerError(
                            f"version {version} returned attributes for {len(attributes)} of {len(texts)} texts"
                        )
                return ScoredBatch(scores, info, attributes)
        raise ModelUnavailable(f"model versions changed during the call ({sorted(versions)})")

    async def tag(self, texts: Sequence[str]) -> tuple[list[list[tuple[str, float]]], ModelInfo]:
        """Tags above each tag's threshold, highest score first, and the model that answered."""
        batch = await self.infer(texts)
        info = batch.model
        return decode_tags(batch.scores, list(info.tags), info.thresholds, info.hierarchy), info
