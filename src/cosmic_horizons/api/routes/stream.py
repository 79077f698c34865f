"""``/api/stream``: server-sent events of the data plane (after every poll) and the array."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from ..dependencies import State
from ..responses import StructRoute, encode
from ..state import ApiState

__all__ = ["ARRAY_EVENT_INTERVAL", "KEEPALIVE_S", "router"]

#: Seconds between ``array`` events on /api/stream.
ARRAY_EVENT_INTERVAL = 1.0
#: A comment line is sent when nothing else was for this long (keeps proxies from timing out).
KEEPALIVE_S = 15.0

router = APIRouter(tags=["stream"], route_class=StructRoute)

_DESCRIPTION = (
    "A `text/event-stream` body: server-sent events, one after another, never a JSON document. "
    "`event: snapshot` lines carry a JSON-encoded DataPlaneUpdate "
    "(#/components/schemas/DataPlaneUpdate) after every poll and at once on connect; "
    "`event: array` lines carry a JSON-encoded ArraySnapshot (#/components/schemas/ArraySnapshot) "
    "every second; `: keep-alive` comments fill silences. The payload schemas are in components."
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
        }
    },
)
async def stream(state: State, request: Request) -> StreamingResponse:
    """One event stream per client, until it disconnects or the server stops."""
    return StreamingResponse(
        _events(state, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(event: str, data: bytes) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


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
            yield _sse("snapshot", encode(update))
            last_sent = now
        if state.array is not None and now >= next_array:
            next_array = now + ARRAY_EVENT_INTERVAL
            yield _sse("array", encode(state.array.snapshot()))
            last_sent = now
        if now - last_sent >= KEEPALIVE_S:
            yield b": keep-alive\n\n"
            last_sent = now
        await asyncio.sleep(0.2)
