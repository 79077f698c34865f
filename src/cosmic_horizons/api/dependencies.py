"""What routes depend on, read from the app they serve (``request.app.state``).

:func:`attach` stores the :class:`ApiState` as ``app.state.horizons`` and the Prometheus
registry over it as ``app.state.metrics_registry``; routes ask for them as parameters typed
:data:`State` and :data:`Registry`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from .guard import ApiGuard
from .metrics import make_registry
from .state import ApiState

__all__ = [
    "Guard",
    "Registry",
    "State",
    "api_guard",
    "api_state",
    "attach",
    "guard_of",
    "metrics_registry",
    "state_of",
]


def attach(app: Starlette, state: ApiState, guard: ApiGuard | None = None) -> None:
    """Make ``state`` (and a metrics registry over it) what the routes of ``app`` serve."""
    app.state.horizons = state
    app.state.api_guard = guard if guard is not None else ApiGuard()
    app.state.metrics_registry = make_registry(state)


def guard_of(app: Starlette) -> ApiGuard:
    """The :class:`ApiGuard` (token, stream cap) of ``app``."""
    guard: ApiGuard = app.state.api_guard
    return guard


def state_of(app: Starlette) -> ApiState:
    """The :class:`ApiState` attached to ``app``."""
    state: ApiState = app.state.horizons
    return state


async def api_state(request: Request) -> ApiState:
    """The components and the cache this app reports on."""
    return state_of(request.app)


async def api_guard(request: Request) -> ApiGuard:
    """The token and the stream cap of this app."""
    return guard_of(request.app)


async def metrics_registry(request: Request) -> CollectorRegistry:
    """The Prometheus registry whose collector reads :func:`api_state`."""
    registry: CollectorRegistry = request.app.state.metrics_registry
    return registry


#: A route parameter receiving the app's :class:`ApiState`.
State = Annotated[ApiState, Depends(api_state)]
#: A route parameter receiving the app's :class:`ApiGuard`.
Guard = Annotated[ApiGuard, Depends(api_guard)]
#: A route parameter receiving the app's Prometheus registry.
Registry = Annotated[CollectorRegistry, Depends(metrics_registry)]
