"""``/api/stream``: server-sent events of the data plane (after every poll) and the array."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ..array_feed import ARRAY_INTERVAL_S
from ..dependencies import Guard, State
from ..guard import ApiGuard
from ..models import ErrorBody
from ..responses import StructRoute, answer
from ..state import ApiState

__all__ = ["ARRAY_EVENT_INTERVAL", "KEEPALIVE_S", "router"]

#: Seconds between ``array`` events on /api/stream (the state's ``array_interval`` by default).
ARRAY_EVENT_INTERVAL = ARRAY_INTERVAL_S
#: A comment line is sent when nothing else was for this long (keeps proxies from timing out).
KEEPALIVE_S = 15.0

router = APIRouter(tags=["stream"], route_class=StructRoute)

_DESCRIPTION = (
    "A `text/event-stream` body: server-sent events, one after another, never a JSON document. "
    "`event: snapshot` lines carry a JSON-encoded DataPlaneUpdate "
    "(#/components/schemas/DataPlaneUpdate) after every poll and at once on connect; "
    "`event: array` lines carry a JSON-encoded ArraySnapshot (#/components/schemas/ArraySnapshot) "
    "every second (one snapshot shared by all clients); `: keep-alive` comments fill silences. "
    "The payload schemas are in components."
)


@router.get(
    "/api/stream",
    summary="Server-sent events: `snapshot` (DataPlaneUpdate) and `array` (ArraySnapshot)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": _DESCRIPTION,
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
        },
        503: answer(ErrorBody, "This process already serves its maximum of event streams."),
    },
)
async def stream(state: State, guard: Guard, request: Request) -> StreamingResponse:
    """One event stream per client, until it disconnects or the server stops.

    At most ``max_streams`` (``horizons serve --max-streams``) are open at once per process;
    one more is answered 503 with the reason, so stray dashboards cannot exhaust the server.
    """
    if not guard.acquire_stream():
        raise HTTPException(
            503,
            f"too many event streams: this server allows {guard.max_streams} at once "
            "(--max-streams); close a dashboard tab or raise the limit",
        )
    return _CountedStream(
        guard,
        _events(state, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class _CountedStream(StreamingResponse):
    """A stream that gives its slot back when it ends, however it ends (done, gone, stopped)."""

    def __init__(self, guard: ApiGuard, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._guard: ApiGuard | None = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()

    def _release(self) -> None:
        if self._guard is not None:
            self._guard.release_stream()
            self._guard = None

    def __del__(self) -> None:  # a response that was never sent gives its slot back too
        self._release()


def _sse(event: str, data: bytes) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


async def _events(state: ApiState, request: Request) -> AsyncIterator[bytes]:
    """The SSE stream of one client: data-plane updates after each poll, the array every interval.

    Both payloads are built and encoded once for all clients (per poll, per array interval) and
    off the event loop; a client only copies the shared bytes.
    """
    yield b"retry: 2000\n\n"
    sent_version = -1
    next_array = 0.0
    last_sent = time.monotonic()
    while not state.closing.is_set():
        if await request.is_disconnected():
            return
        now = time.monotonic()
        if state.cache.version != sent_version:
            sent_version, update = await asyncio.to_thread(state.data_plane_json)
            yield _sse("snapshot", update)
            last_sent = now
        feed = state.array_feed
        if feed is not None and now >= next_array:
            next_array = now + feed.interval
            shared = feed.fresh()
            if shared is None:  # this client is the first to ask in this interval
                shared = await asyncio.to_thread(feed.latest)
            yield _sse("array", shared.json)
            last_sent = now
        if now - last_sent >= KEEPALIVE_S:
            yield b": keep-alive\n\n"
            last_sent = now
        await asyncio.sleep(0.2)
