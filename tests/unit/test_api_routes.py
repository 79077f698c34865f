"""The app's routes: module-level routers, typed returns as response models, state by Depends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, get_type_hints

import httpx
import msgspec
from fastapi import APIRouter, FastAPI, HTTPException, Response
from fastapi.routing import APIRoute

from cosmic_horizons.api import ApiServer, ApiState, create_app
from cosmic_horizons.api.models import ErrorBody, ServiceStats
from cosmic_horizons.api.responses import StructRoute
from cosmic_horizons.api.routes import ROUTERS
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.monitor import Monitor


def make_state(**stats: Any) -> ApiState:
    # A dead address: the poller of a served app gives up on it fast.
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    providers = {name: (lambda value=value: value) for name, value in stats.items()}
    monitor = Monitor(settings, timeout=1.0)
    return ApiState(settings=settings, monitor=monitor, extra_stats=providers)


@contextmanager
def served(app: FastAPI) -> Iterator[httpx.Client]:
    with ApiServer(app, port=0) as server, httpx.Client(base_url=server.url) as client:
        yield client


def api_routes() -> list[APIRoute]:
    return [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]


def test_the_documented_paths_are_the_routers_paths() -> None:
    doc = create_app(make_state()).openapi()
    in_schema = {r.path for r in api_routes() if r.include_in_schema}
    assert set(doc["paths"]) == in_schema
    assert {r.path for r in api_routes() if not r.include_in_schema} == {"/", "/docs"}


def test_a_typed_return_is_the_documented_model() -> None:
    doc = create_app(make_state()).openapi()
    typed = 0
    for route in api_routes():
        model = get_type_hints(route.endpoint).get("return")
        if isinstance(model, type) and issubclass(model, msgspec.Struct):
            typed += 1
            ok = doc["paths"][route.path]["get"]["responses"]["200"]
            assert ok["content"] == {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            }, route.path
            assert route.endpoint.__doc__, f"{route.path} has no docstring"
    assert typed == 8  # every JSON endpoint but /api/array; /api/stream and /metrics answer text
    # /api/array answers the shared snapshot's bytes, already encoded: its model is stated.
    ok = doc["paths"]["/api/array"]["get"]["responses"]["200"]
    assert ok["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/ArraySnapshot"}}
    }


def test_routes_answer_from_the_state_of_their_own_app() -> None:
    one, two = make_state(archiver={"rows": 1}), make_state(archiver={"rows": 2})
    with served(create_app(one)) as first, served(create_app(two)) as second:
        for client, rows in ((first, 1), (second, 2)):
            answer = client.get("/api/messaging/stats")
            stats = msgspec.json.decode(answer.content, type=ServiceStats)
            assert stats.components == {"archiver": {"rows": rows}}
    for state in (one, two):
        state.monitor.close()


class Point(msgspec.Struct):
    x: int
    y_value: int = msgspec.field(name="yValue")


def struct_app() -> FastAPI:
    router = APIRouter(route_class=StructRoute)
    threads: dict[str, str] = {}

    @router.get("/async")
    async def on_loop() -> Point:
        threads["async"] = threading.current_thread().name
        return Point(1, 2)

    @router.get("/sync")
    def in_pool() -> Point:
        threads["sync"] = threading.current_thread().name
        return Point(3, 4)

    @router.get("/status")
    async def with_status(response: Response) -> Point:
        response.status_code = 503
        response.headers["X-Why"] = "test"
        return Point(5, 6)

    @router.get("/missing")
    async def missing() -> Point:
        raise HTTPException(404, "no such point")

    @router.get("/raw")
    async def raw() -> Point:
        return Response(b"as is", media_type="text/plain")  # type: ignore[return-value]

    app = FastAPI()
    app.include_router(router)
    app.state.threads = threads
    return app


def test_struct_route_encodes_what_the_endpoint_returns_with_msgspec() -> None:
    app = struct_app()
    with served(app) as client:
        answers = {
            path: client.get(path) for path in ("/async", "/sync", "/status", "/missing", "/raw")
        }
    for path, body in (("/async", b'{"x":1,"yValue":2}'), ("/sync", b'{"x":3,"yValue":4}')):
        response = answers[path]
        assert (response.status_code, response.content) == (200, body)
        assert response.headers["content-type"] == "application/json"
    # a plain function still runs in the thread pool, a coroutine on the event loop
    assert app.state.threads["sync"] != app.state.threads["async"]
    status = answers["/status"]
    assert (status.status_code, status.headers["x-why"]) == (503, "test")
    assert status.content == b'{"x":5,"yValue":6}'
    missing = answers["/missing"]
    assert missing.status_code == 404
    assert msgspec.json.decode(missing.content, type=ErrorBody) == ErrorBody("no such point")
    assert answers["/raw"].content == b"as is"
    ok = app.openapi()["paths"]["/async"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Point"}
