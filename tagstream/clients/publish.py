"""Load a new model version into a running Triton with no downtime (the repository API).

With `version_policy: latest { num_versions: 2 }`, asking Triton to load the model makes it load the
newest version next to the one serving; requests keep going to the serving version until the new
one is ready, and the oldest is unloaded only after that. If the new version fails to load, Triton
reports the error and the versions already loaded keep serving.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from tagstream.clients.errors import ModelLoadError, TritonUnreachable
from tagstream.core.names import MODEL_NAME

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishResult:
    model: str
    serving_version: int
    ready_versions: tuple[int, ...]
    previous_version: int | None
    seconds: float


def ready_versions(client: httpclient.InferenceServerClient, model: str) -> list[int]:
    index = client.get_model_repository_index()
    return sorted(
        int(e["version"]) for e in index if e.get("name") == model and e.get("state") == "READY" and e.get("version")
    )


def publish(url: str, model: str = MODEL_NAME, timeout_s: float = 600.0) -> PublishResult:
    """Ask Triton (HTTP endpoint `url`, host:port) to load the newest version(s) of `model`."""
    client = httpclient.InferenceServerClient(url, connection_timeout=10.0, network_timeout=timeout_s)
    try:
        try:
            before = ready_versions(client, model)
        except InferenceServerException as e:
            raise TritonUnreachable(f"cannot reach Triton at {url}: {e.message()}") from None
        except OSError as e:  # connection refused, no route, name not resolved
            raise TritonUnreachable(f"cannot reach Triton at {url}: {e.strerror or e}") from None
        previous = before[-1] if before else None
        t0 = time.perf_counter()
        try:
            client.load_model(model)
        except InferenceServerException as e:
            still = ready_versions(client, model)
            serving = f"version {still[-1]} keeps serving" if still else "no version is serving"
            first = (e.message() or "").strip().splitlines()[0] if e.message() else str(e)
            raise ModelLoadError(f"loading {model} failed ({serving}): {first}") from None
        after = ready_versions(client, model)
        if not after:
            raise ModelLoadError(f"{model} reported loaded but no version is ready")
        result = PublishResult(model, after[-1], tuple(after), previous, time.perf_counter() - t0)
        log.info(
            "published %s: serving version %d (ready %s, before %s)",
            model,
            result.serving_version,
            after,
            before,
        )
        return result
    finally:
        client.close()
