"""The FastAPI application: monitoring endpoints, live stream, Prometheus metrics, dashboard.

Responses are msgspec Structs encoded by :class:`StructResponse`; their JSON Schemas are added
to ``/openapi.json`` so every endpoint documents its model. Nothing is loaded from a CDN: the
dashboard and the API reference page (``/docs``) are served from ``api/static``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
from fastapi import FastAPI, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from .metrics import make_registry, render_metrics
from .models import API_MODELS, ErrorBody, LagReport, Liveness, Readiness
from .state import ApiState

__all__ = ["STATIC_DIR", "StructResponse", "create_app"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: The classic Prometheus text format (metric names here are plain ASCII, so it is exact).
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds between ``array`` events on /api/stream.
ARRAY_EVENT_INTERVAL = 1.0
#: A comment line is sent when nothing else was for this long (keeps proxies from timing out).
KEEPALIVE_S = 15.0

_encoder = msgspec.json.Encoder()


class StructResponse(JSONResponse):
    """JSON from a msgspec Struct (or anything msgspec encodes), encoded by msgspec."""

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


def _doc(model: str, description: str, **errors: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` naming a model of :data:`API_MODELS` (and error answers)."""
    out: dict[int | str, dict[str, Any]] = {
        200: {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}},
        }
    }
    for code, text in errors.items():
        out[int(code.lstrip("_"))] = {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
    return out


def _sse(event: str, data: bytes) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


def create_app(state: ApiState) -> FastAPI:
    """The API and dashboard over ``state``; its lifespan runs the poller and the array view."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.closing.clear()
        state.cache.start()
        if state.array is not None:
            state.array.start()
        try:
            yield
        finally:
            state.closing.set()
            await asyncio.to_thread(state.cache.stop)

    app = FastAPI(
        title="Cosmic Horizons data plane",
        version=__version__,
        description=(
            "Monitoring API of the array's Kafka data plane: broker snapshot, consumer-group "
            "lag judged by Burrow's rules, publisher stats, the array's latest metrics, a live "
            "event stream and Prometheus metrics. Served offline: no CDN."
        ),
        lifespan=lifespan,
        docs_url=None,  # FastAPI's Swagger page loads from a CDN; /docs is a local page
        redoc_url=None,
    )
    app.state.horizons = state
    registry = make_registry(state)

    @app.get(
        "/api/health",
        tags=["probes"],
        summary="Liveness: the process serves requests",
        response_class=StructResponse,
        responses=_doc("Liveness", "The process is alive."),
    )
    async def health() -> Response:
        return StructResponse(
            Liveness(
                status="ok",
                version=__version__,
                uptime_s=round(time.time() - state.started_at, 3),
                poller_alive=state.cache.alive,
                array_running=state.array.running if state.array is not None else None,
            )
        )

    @app.get(
        "/api/ready",
        tags=["probes"],
        summary="Readiness: the broker answered the last poll",
        response_class=StructResponse,
        responses={
            **_doc("Readiness", "The broker is reachable."),
            503: {
                "description": "The broker did not answer the last poll, none finished yet, "
                "or the last one is too old.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}
                },
            },
        },
    )
    async def ready() -> Response:
        snap = state.cache.snapshot
        if snap is None:
            body = Readiness(
                ready=False,
                connected=None,
                latency_ms=None,
                polled_at=None,
                error="first poll still in progress",
            )
        else:
            age = time.time() - snap.polled_at
            stale = age > max(30.0, 5 * state.poll_interval)
            body = Readiness(
                ready=snap.connected and not stale,
                connected=snap.connected,
                latency_ms=snap.latency_ms,
                polled_at=snap.polled_at,
                error=f"last poll finished {age:.0f} s ago; the poller is stuck"
                if stale
                else snap.error,
            )
        return StructResponse(body, status_code=200 if body.ready else 503)

    @app.get(
        "/api/messaging/snapshot",
        tags=["messaging"],
        summary="The spec's pollKafka snapshot, extended (cached, refreshed every poll)",
        response_class=StructResponse,
        responses=_doc(
            "KafkaSnapshot",
            "The last snapshot; connected=false with nulls when the broker is unreachable.",
            _503="No poll has finished yet.",
        ),
    )
    async def snapshot() -> Response:
        snap = state.cache.snapshot
        if snap is None:
            return StructResponse(ErrorBody("first poll still in progress"), status_code=503)
        return StructResponse(snap)

    @app.get(
        "/api/messaging/stats",
        tags=["messaging"],
        summary="Publisher stats and other components' stats (archiver)",
        response_class=StructResponse,
        responses=_doc("ServiceStats", "publisher is null when no publisher runs here."),
    )
    def stats() -> Response:
        return StructResponse(state.service_stats())

    @app.get(
        "/api/messaging/lag",
        tags=["messaging"],
        summary="Consumer-group lag per partition with Burrow status and rule",
        response_class=StructResponse,
        responses=_doc("LagReport", "Every group, or only ?group=.", _404="No such group."),
    )
    async def lag(
        group: str | None = Query(None, description="Only this consumer group."),
    ) -> Response:
        report = state.cache.lag
        if group is None:
            return StructResponse(report)
        groups = [g for g in report.groups if g.group == group]
        if not groups and report.error is None:
            return StructResponse(ErrorBody(f"no consumer group {group!r}"), status_code=404)
        return StructResponse(
            LagReport(groups=groups, polled_at=report.polled_at, error=report.error)
        )

    @app.get(
        "/api/topics",
        tags=["messaging"],
        summary="Topics of the cluster with partitions and replication",
        response_class=StructResponse,
        responses=_doc("TopicsReport", "As of the last poll."),
    )
    async def topics() -> Response:
        return StructResponse(state.cache.topics)

    @app.get(
        "/api/array",
        tags=["array"],
        summary="Latest metrics and health per element and per site",
        response_class=StructResponse,
        responses=_doc("ArraySnapshot", "The array view.", _404="No array view runs here."),
    )
    def array() -> Response:
        if state.array is None:
            return StructResponse(ErrorBody("no array view runs in this process"), 404)
        return StructResponse(state.array.snapshot())

    @app.get(
        "/api/stream",
        tags=["stream"],
        summary="Server-sent events: `snapshot` (DataPlaneUpdate) and `array` (ArraySnapshot)",
        response_class=StreamingResponse,
        responses={
            200: {
                "description": (
                    "A `text/event-stream` body: server-sent events, one after another, never a "
                    "JSON document. `event: snapshot` lines carry a JSON-encoded DataPlaneUpdate "
                    "(#/components/schemas/DataPlaneUpdate) after every poll and at once on "
                    "connect; `event: array` lines carry a JSON-encoded ArraySnapshot "
                    "(#/components/schemas/ArraySnapshot) every second; `: keep-alive` comments "
                    "fill silences. The payload schemas are in components."
                ),
                "content": {
                    "text/event-stream": {
                        "schema": {
                            "type": "string",
                            "description": "Server-sent events; each `data:` line is the JSON of "
                            "the payload model named by its `event:` line.",
                        },
                        "x-event-payloads": {
                            "snapshot": "#/components/schemas/DataPlaneUpdate",
                            "array": "#/components/schemas/ArraySnapshot",
                        },
                    }
                },
            }
        },
    )
    async def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(
            _events(state, request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get(
        "/metrics",
        tags=["metrics"],
        summary="Prometheus metrics (kafka-lag-exporter names for lag and offsets)",
        response_class=Response,
        responses={200: {"description": "Prometheus text exposition format 0.0.4", "content": {
            "text/plain": {"schema": {"type": "string"}}}}},
    )  # fmt: skip
    def metrics() -> Response:
        return Response(render_metrics(registry), media_type=METRICS_CONTENT_TYPE)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(STATIC_DIR / "docs.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _, components = msgspec.json.schema_components(
                API_MODELS, ref_template="#/components/schemas/{name}"
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
    return app


async def _events(state: ApiState, request: Request) -> AsyncIterator[bytes]:
    """The SSE stream of one client: data-plane updates after each poll, the array every second."""
    yield b"retry: 2000\n\n"
    sent_version = -1
    next_array = 0.0
    last_sent = time.monotonic()
    while not state.closing.is_set():
        if await request.is_disconnected():
            return
        now = time.monotonic()
        version = state.cache.version
        if version != sent_version:
            sent_version = version
            update = await asyncio.to_thread(state.data_plane)
            yield _sse("snapshot", _encoder.encode(update))
            last_sent = now
        if state.array is not None and now >= next_array:
            next_array = now + ARRAY_EVENT_INTERVAL
            yield _sse("array", _encoder.encode(state.array.snapshot()))
            last_sent = now
        if now - last_sent >= KEEPALIVE_S:
            yield b": keep-alive\n\n"
            last_sent = now
        await asyncio.sleep(0.2)
