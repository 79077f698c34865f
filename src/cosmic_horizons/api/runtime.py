"""One call to serve the API and dashboard next to whatever else the process runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ..array_view import ArrayView, HealthThresholds
from ..config import KafkaSettings
from ..monitor import Monitor
from ..publisher import Publisher
from .app import create_app
from .guard import DEFAULT_MAX_STREAMS, ApiGuard, require_safe_exposure, token_from_env
from .server import ApiServer
from .state import ApiState, StatsProvider

__all__ = ["RunningApi", "start_api"]

log = logging.getLogger(__name__)
#: A step of stopping that takes longer than this is reported (Kubernetes waits 30 s in all).
_SLOW_STOP_S = 2.0


class RunningApi:
    """A served API with the monitor and array view it owns; :meth:`close` stops all three."""

    def __init__(self, state: ApiState, server: ApiServer) -> None:
        self.state = state
        self.server = server

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        """Stop the server (its poller with it), the array view, then the monitor; a step
        that is slow is logged with its time, so a slow stop says where it waited."""
        _timed("the API server and its poller", self.server.stop)
        if self.state.array is not None:
            _timed("the array view", self.state.array.close)
        _timed("the monitor", self.state.monitor.close)

    def __enter__(self) -> RunningApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _timed(what: str, step: Callable[[], None]) -> None:
    started = time.monotonic()
    step()
    took = time.monotonic() - started
    if took > _SLOW_STOP_S:
        log.warning("stopping %s took %.1f s", what, took)
    else:
        log.debug("stopped %s in %.2f s", what, took)


def start_api(
    settings: KafkaSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    publisher: Publisher | None = None,
    extra_stats: Mapping[str, StatsProvider] | None = None,
    from_beginning: bool = False,
    thresholds: HealthThresholds | None = None,
    poll_interval: float = 2.0,
    token: str | None = None,
    max_streams: int = DEFAULT_MAX_STREAMS,
    tls_cert: str | Path | None = None,
    tls_key: str | Path | None = None,
    insecure: bool = False,
) -> RunningApi:
    """Start a monitor, an array view and the API server on ``host:port`` (0 = a free port).

    ``token`` (default: ``HORIZONS_API_TOKEN``) is then needed on every route but
    /api/health; a non-loopback ``host`` without one is refused unless ``insecure``.
    ``tls_cert``/``tls_key`` serve HTTPS. The publisher (if any) stays the caller's: closing
    the API does not close it.
    """
    settings.require_bootstrap()
    guard = ApiGuard(
        token=token if token is not None else token_from_env(), max_streams=max_streams
    )
    require_safe_exposure(host, guard.token, insecure)
    monitor = Monitor(settings)
    array = ArrayView(settings, from_beginning=from_beginning, thresholds=thresholds)
    state = ApiState(
        settings=settings,
        monitor=monitor,
        array=array,
        publisher=publisher,
        extra_stats=dict(extra_stats or {}),
        poll_interval=poll_interval,
    )
    try:
        server = ApiServer(
            create_app(state, guard),
            host=host,
            port=port,
            tls_cert=tls_cert,
            tls_key=tls_key,
            insecure=insecure,
        )
        server.start()
    except BaseException:
        array.close()
        monitor.close()
        raise
    return RunningApi(state, server)
