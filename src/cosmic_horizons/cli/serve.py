"""``horizons serve``: the HTTP monitoring API, Prometheus metrics and the array dashboard."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from ..api import start_api
from ..cluster import check_broker
from ..config import KafkaSettings
from .common import BootstrapOpt, TopicOpt, err_console, fail, load_settings
from .exits import Exit, stop_on_signals


def serve(
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on; 0.0.0.0 exposes it to the network."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port; 0 picks a free one.")] = 8000,
    from_beginning: Annotated[
        bool,
        typer.Option("--from-beginning", help="Fill the array view from the start of the topic."),
    ] = False,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", help="Seconds between broker polls.", min=0.5)
    ] = 2.0,
) -> None:
    """Serve the monitoring API, /metrics and the dashboard until Ctrl-C or SIGTERM."""
    with stop_on_signals() as stop:
        _serve(stop, load_settings(bootstrap, topic), host, port, from_beginning, poll_interval)


def _serve(
    stop: threading.Event,
    settings: KafkaSettings,
    host: str,
    port: int,
    from_beginning: bool,
    poll_interval: float,
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
    )
    url = api.url
    err_console.print(
        f"dashboard [bold]{url}/[/]   API {url}/api/...   metrics {url}/metrics   "
        f"OpenAPI {url}/openapi.json (reference {url}/docs)\n"
        f"watching topic {settings.topic} on {settings.bootstrap_servers}; Ctrl-C stops",
        soft_wrap=True,
    )
    try:
        stop.wait()
    finally:
        api.close()
    err_console.print("API stopped")


def register(app: typer.Typer) -> None:
    app.command()(serve)
