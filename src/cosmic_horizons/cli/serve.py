"""``horizons serve``: the HTTP monitoring API, Prometheus metrics and the array dashboard."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, NamedTuple

import typer

from ..api import start_api
from ..api.guard import DEFAULT_MAX_STREAMS, require_safe_exposure, token_from_env
from ..cluster import check_broker
from ..config import KafkaSettings
from .common import BootstrapOpt, TopicOpt, err_console, fail, load_settings
from .exits import Exit, stop_on_signals


def serve(
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on; 0.0.0.0 exposes it to the network (needs "
            "HORIZONS_API_TOKEN, or --insecure).",
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port; 0 picks a free one.")] = 8000,
    from_beginning: Annotated[
        bool,
        typer.Option("--from-beginning", help="Fill the array view from the start of the topic."),
    ] = False,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", help="Seconds between broker polls.", min=0.5)
    ] = 2.0,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            "--tls-cert", envvar="HORIZONS_API_TLS_CERT", help="PEM certificate: serve HTTPS."
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option("--tls-key", envvar="HORIZONS_API_TLS_KEY", help="PEM key of --tls-cert."),
    ] = None,
    max_streams: Annotated[
        int,
        typer.Option("--max-streams", help="Concurrent /api/stream clients at most.", min=1),
    ] = DEFAULT_MAX_STREAMS,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Serve a non-loopback --host without HORIZONS_API_TOKEN."),
    ] = False,
) -> None:
    """Serve the monitoring API, /metrics and the dashboard until Ctrl-C or SIGTERM.

    Read-only. With HORIZONS_API_TOKEN set, every route but /api/health needs it.
    """
    token = token_from_env()
    require_safe_exposure(host, token, insecure)
    settings = load_settings(bootstrap, topic)
    with stop_on_signals() as stop:
        _serve(
            stop,
            settings,
            host,
            port,
            from_beginning,
            poll_interval,
            _Guard(token, max_streams, tls_cert, tls_key, insecure),
        )


class _Guard(NamedTuple):
    """How the API is exposed: token, stream cap, TLS, non-loopback consent."""

    token: str | None
    max_streams: int
    tls_cert: Path | None
    tls_key: Path | None
    insecure: bool


def _serve(
    stop: threading.Event,
    settings: KafkaSettings,
    host: str,
    port: int,
    from_beginning: bool,
    poll_interval: float,
    guard: _Guard,
) -> None:
    # A broker that is down may come back, and the API says so meanwhile; credentials or
    # certificates the broker refuses will not fix themselves: stop at once.
    probe = check_broker(settings, timeout=3.0)
    if probe.failure in ("authentication", "tls"):
        fail(probe.error or "SASL/TLS failed", Exit.SECURITY)
    api = start_api(
        settings,
        host=host,
        port=port,
        from_beginning=from_beginning,
        poll_interval=poll_interval,
        token=guard.token,
        max_streams=guard.max_streams,
        tls_cert=guard.tls_cert,
        tls_key=guard.tls_key,
        insecure=guard.insecure,
    )
    url = api.url
    err_console.print(
        f"dashboard [bold]{url}/[/]   API {url}/api/...   metrics {url}/metrics   "
        f"OpenAPI {url}/openapi.json (reference {url}/docs)\n"
        f"watching topic {settings.topic} on {settings.bootstrap_servers}; "
        f"{'token required (HORIZONS_API_TOKEN)' if guard.token else 'no token'}; Ctrl-C stops",
        soft_wrap=True,
    )
    try:
        stop.wait()
    finally:
        api.close()
    err_console.print("API stopped")


def register(app: typer.Typer) -> None:
    app.command()(serve)
