"""HTTP views served by the worker's web server on ``SCREEN_HTTP_PORT``."""

from __future__ import annotations

from typing import Any

from faust.web import Request, Response, View
from prometheus_client import generate_latest

from streams.inline_context import InlineContext
from streams.openapi import openapi_document
from streams.service import ScreenService


def _service_started(component: Any) -> bool:
    return bool(getattr(component, "started", False)) and not getattr(component, "crashed", False)


def _kafka_state(app: Any, role: str) -> str:
    """``ok`` once the consumer has its partitions (a rebalance completed and none is under
    way), ``starting`` before, ``unavailable`` when the consumer or producer is down. An
    ``inline`` worker consumes nothing: its Kafka is its producer's."""
    if not _service_started(app.producer):
        return "unavailable"
    if role == "inline":
        return "ok"
    if not _service_started(app.consumer):
        return "unavailable"
    if app.rebalancing_count == 0 or app.rebalancing:
        return "starting"
    return "ok"


def register_views(
    app: Any, service: ScreenService, inline: InlineContext, *, role: str = "all"
) -> None:
    """Attach ``/healthz`` and ``/metrics`` to the Faust app's web server."""

    @app.page("/healthz")
    class Health(View):
        """200 with ``ok``/``degraded`` while the worker can screen, 503 when it cannot."""

        async def get(self, request: Request) -> Response:
            redis_ok = await inline.get().state.ping()
            kafka = _kafka_state(app, role)
            runtime = service.runtime
            status = "ok" if redis_ok and kafka == "ok" else "degraded"
            body = {
                "status": status,
                "kafka": kafka,
                "redis": "ok" if redis_ok else "unavailable",
                "config_version": runtime.config_version,
                "registry_version": runtime.registry.version,
                "detectors": [detector.name for detector in runtime.detectors],
                "role": role,
            }
            return self.json(body, status=200)

    @app.page("/openapi.json")
    class OpenApi(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(openapi_document(), content_type="application/json")

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(
                generate_latest(service.metrics.registry),
                # aiohttp refuses a charset in content_type; Prometheus needs only the version
                content_type="text/plain; version=0.0.4",
            )
