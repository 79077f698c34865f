"""The FastAPI application: the routers of :mod:`.routes` over one :class:`ApiState`.

Responses are msgspec Structs (see :mod:`.responses`); their JSON Schemas are added to
``/openapi.json`` so every endpoint documents its model. Nothing is loaded from a CDN: the
dashboard and the API reference page (``/docs``) are served from ``api/static``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .. import __version__
from .dependencies import attach, state_of
from .guard import ApiGuard, GuardMiddleware
from .models import API_MODELS
from .routes import ROUTERS
from .state import ApiState

__all__ = ["create_app"]


def create_app(state: ApiState, guard: ApiGuard | None = None) -> FastAPI:
    """The API and dashboard over ``state``; its lifespan runs the poller and the array view.

    ``guard`` holds the optional token and the cap on event streams (default: no token, the
    default cap); the security headers are sent in either case.
    """
    app = FastAPI(
        title="Cosmic Horizons data plane",
        version=__version__,
        description=(
            "Monitoring API of the array's Kafka data plane: broker snapshot, consumer-group "
            "lag judged by Burrow's rules, publisher stats, the array's latest metrics, a live "
            "event stream and Prometheus metrics. Served offline: no CDN."
        ),
        lifespan=_lifespan,
        docs_url=None,  # FastAPI's Swagger page loads from a CDN; /docs is a local page
        redoc_url=None,
    )
    guard = guard if guard is not None else ApiGuard()
    attach(app, state, guard)
    app.add_middleware(GuardMiddleware, guard=guard)
    for router in ROUTERS:
        app.include_router(router)
    app.openapi = functools.partial(_openapi, app)  # type: ignore[method-assign]  # documented override
    return app


#: Seconds the server's stop waits for the poller to finish a poll in flight.
_POLLER_STOP_WAIT_S = 2.0


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the poller and the array view with the server; stop the poller with it."""
    state = state_of(app)
    state.closing.clear()
    state.cache.start()
    if state.array is not None:
        state.array.start()
    try:
        yield
    finally:
        state.closing.set()
        # a poll in flight is not waited for long: the poller is a daemon thread, and the
        # monitor's clients are released when that poll ends (Monitor.close)
        await asyncio.to_thread(state.cache.stop, _POLLER_STOP_WAIT_S)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the JSON Schemas of every response model (built once)."""
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
