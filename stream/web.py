"""The worker's web pages on Faust's web server: /healthz (liveness), /readyz (readiness, 503 while not
ready) and /metrics (Prometheus text)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import faust


def add_pages(
    app: faust.App,
    *,
    liveness: Callable[[], dict[str, object]],
    readiness: Callable[[], Awaitable[tuple[bool, dict[str, object]]]],
    metrics: Callable[[], bytes],
) -> None:
    # faust calls a page function as fun(view, request)
    async def healthz(view: Any, request: Any) -> Any:
        return view.json(liveness())

    async def readyz(view: Any, request: Any) -> Any:
        ready, body = await readiness()
        return view.json(body, status=200 if ready else 503)

    async def metrics_page(view: Any, request: Any) -> Any:
        return view.bytes(metrics(), content_type="text/plain; version=0.0.4")

    app.page("/healthz")(healthz)
    app.page("/readyz")(readyz)
    app.page("/metrics")(metrics_page)
