"""Probes: liveness (the process serves) and readiness (the broker answered the last poll)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Response

from ... import __version__
from ..dependencies import State
from ..models import Liveness, Readiness
from ..responses import StructRoute, answer

__all__ = ["router"]

router = APIRouter(tags=["probes"], route_class=StructRoute)


@router.get(
    "/api/health",
    summary="Liveness: the process serves requests",
    response_description="The process is alive.",
)
async def health(state: State) -> Liveness:
    """Always 200 while the process serves; also says whether the poller and array view run."""
    return Liveness(
        status="ok",
        version=__version__,
        uptime_s=round(time.time() - state.started_at, 3),
        poller_alive=state.cache.alive,
        array_running=state.array.running if state.array is not None else None,
    )


@router.get(
    "/api/ready",
    summary="Readiness: the broker answered the last poll",
    response_description="The broker is reachable.",
    responses={
        503: answer(
            Readiness,
            "The broker did not answer the last poll, none finished yet, "
            "or the last one is too old.",
        )
    },
)
async def ready(state: State, response: Response) -> Readiness:
    """200 when the last poll reached the broker and is recent; 503 with the reason otherwise."""
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
    response.status_code = 200 if body.ready else 503
    return body
