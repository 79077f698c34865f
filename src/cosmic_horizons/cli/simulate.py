"""What fills the topic with simulated telemetry: ``simulate`` and ``up`` (the whole stack:
broker, topic, simulated array, API)."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.live import Live
from rich.text import Text

from .._units import parse_duration
from ..api.guard import require_safe_exposure, token_from_env
from ..api.runtime import start_api
from ..broker import EmbeddedBroker, port_is_free
from ..cluster import require_reachable
from ..config import KafkaSettings
from ..kafka_local import LocalKafkaCluster
from ..publisher import DeliveryReport, Publisher
from ..simulator import ArraySimulator, stream
from ..topics import TopicAdmin, desired_topic
from .broker import DataOpt, Engine, EngineOpt, NodesOpt
from .common import (
    BootstrapOpt,
    PartitionerOpt,
    ProfileOpt,
    TopicOpt,
    err_console,
    load_settings,
)
from .exits import Exit, stop_on_signals
from .live import (
    DEFAULT_STATUS_INTERVAL,
    StatusIntervalOpt,
    parse_status_interval,
    periodic_status,
    publisher_line,
    report_delivery,
)

__all__ = ["ensure_topic", "register", "run_simulation", "simulate", "up"]


ElementsOpt = Annotated[int, typer.Option(help="Number of array elements (antennas).")]
SitesOpt = Annotated[int, typer.Option(help="Number of observatory sites (hubs).")]
RateOpt = Annotated[float, typer.Option(help="Packets per second per element (Hz).")]
SeedOpt = Annotated[int, typer.Option(help="Random seed: the same seed, the same values.")]
ChunkOpt = Annotated[
    int, typer.Option(help="Complex64 visibility samples per data_chunk (0: none).")
]


def run_simulation(
    publisher: Publisher,
    simulator: ArraySimulator,
    *,
    rate: float,
    duration_s: float | None,
    count: int | None,
    live: bool = True,
    status_interval: float = 0.0,
    stop: threading.Event | None = None,
) -> DeliveryReport:
    """Stream the simulator through ``publisher`` with a live stats line (or, when ``live``
    is off, the same line every ``status_interval`` seconds); ``stop`` (set by Ctrl-C or
    SIGTERM, see :func:`.exits.stop_on_signals`) ends it between ticks, never inside a Kafka
    call; what was queued is flushed and reported."""
    started = time.monotonic()
    target = rate * len(simulator.elements)

    def line() -> Text:
        return publisher_line(publisher.snapshot(), target_rate=target, started=started)

    display: contextlib.AbstractContextManager[object]
    if live:
        display = Live(
            get_renderable=line, console=err_console, refresh_per_second=4, transient=False
        )
    else:
        display = periodic_status(line, status_interval, err_console)
    with display:
        stream(
            simulator,
            publisher.publish_many,
            rate_hz=rate,
            duration_s=duration_s,
            count=count,
            stop=stop,
        )
    if stop is not None and stop.is_set():
        err_console.print("stopping: flushing queued packets...")
    report = publisher.close()
    report_delivery(report, err_console)
    return report


def ensure_topic(settings: KafkaSettings) -> None:
    """Create the topic with the profile's layout when missing; warn about drift."""
    result = TopicAdmin(settings).ensure(desired_topic(settings.profile, settings.topic))
    if result.created:
        err_console.print(f"created {settings.topic} ({settings.profile} layout)")
    elif not result.in_sync:
        err_console.print(
            f"[yellow]{settings.topic} differs from the {settings.profile} layout[/] "
            f"(`horizons topics ensure --fix` applies it)"
        )


def simulate(
    elements: ElementsOpt = 263,
    sites: SitesOpt = 5,
    rate: RateOpt = 10.0,
    duration: Annotated[
        str | None, typer.Option(help="Stop after this long (30s, 5m, 2h).", show_default=False)
    ] = None,
    count: Annotated[
        int | None, typer.Option(help="Stop after this many packets.", show_default=False)
    ] = None,
    seed: SeedOpt = 0,
    chunk_samples: ChunkOpt = 0,
    ensure: Annotated[
        bool, typer.Option(help="Create the topic with the profile's layout when missing.")
    ] = True,
    status_interval: StatusIntervalOpt = DEFAULT_STATUS_INTERVAL,
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    profile: ProfileOpt = None,
    partitioner: PartitionerOpt = None,
) -> None:
    """Stream simulated array telemetry into the topic, with a live progress line (a status
    line every --status-interval when the output is a log)."""
    with stop_on_signals() as stop:
        settings = load_settings(bootstrap, topic, profile).with_overrides(partitioner=partitioner)
        duration_s = parse_duration(duration, what="--duration") if duration else None
        status_s = parse_status_interval(status_interval)
        if count is not None and count < 1:
            raise typer.BadParameter("must be at least 1", param_hint="--count")
        simulator = ArraySimulator(elements, sites, seed=seed, chunk_samples=chunk_samples)
        if ensure:
            ensure_topic(settings)
        publisher = Publisher(settings)
        err_console.print(
            f"simulating {elements} elements over {sites} sites at {rate:g} Hz each "
            f"into {settings.topic} on {settings.bootstrap_servers}"
        )
        report = run_simulation(
            publisher,
            simulator,
            rate=rate,
            duration_s=duration_s,
            count=count,
            live=err_console.is_terminal,
            status_interval=status_s,
            stop=stop,
        )
        if not report.complete:
            raise typer.Exit(Exit.PROBLEM)


def up(
    elements: ElementsOpt = 263,
    sites: SitesOpt = 5,
    rate: RateOpt = 1.0,
    seed: SeedOpt = 0,
    chunk_samples: ChunkOpt = 0,
    port: Annotated[
        int | None,
        typer.Option(help="Embedded broker port \\[default: 9092, or a free one when taken]."),
    ] = None,
    api: Annotated[
        bool, typer.Option(help="Serve the HTTP API, /metrics and the dashboard.")
    ] = True,
    api_host: Annotated[str, typer.Option(help="Address the API listens on.")] = "127.0.0.1",
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure", help="Serve a non-loopback --api-host without HORIZONS_API_TOKEN."
        ),
    ] = False,
    api_port: Annotated[
        int, typer.Option(help="API port (a free one is used when it is taken).")
    ] = 8000,
    status_interval: StatusIntervalOpt = DEFAULT_STATUS_INTERVAL,
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    profile: ProfileOpt = None,
    partitioner: PartitionerOpt = None,
    engine: EngineOpt = Engine.tansu,
    nodes: NodesOpt = 1,
    data: DataOpt = Path("data/kafka"),
) -> None:
    """The main job: broker (embedded unless Kafka is configured), topic, simulated array, API."""
    settings = load_settings(bootstrap, topic, profile).with_overrides(partitioner=partitioner)
    status_s = parse_status_interval(status_interval)
    if api:  # refused before any broker starts
        require_safe_exposure(api_host, token_from_env(), insecure)
    with stop_on_signals() as stop, contextlib.ExitStack() as cleanup:
        if settings.bootstrap_servers is None and engine is Engine.kafka:
            local = LocalKafkaCluster(data, nodes).start()
            cleanup.callback(err_console.print, "Kafka cluster stopped")
            cleanup.callback(local.stop)
            settings = settings.with_overrides(bootstrap=local.bootstrap)
            err_console.print(
                f"no Kafka configured: local Apache Kafka ({nodes} node(s), data in {data}) on "
                f"[bold]{local.bootstrap}[/]"
            )
        elif settings.bootstrap_servers is None:
            embedded = EmbeddedBroker(port).start()
            cleanup.callback(err_console.print, "embedded broker stopped")
            cleanup.callback(embedded.stop)
            settings = settings.with_overrides(bootstrap=embedded.bootstrap)
            err_console.print(
                f"no Kafka configured: embedded broker (Tansu, in-memory) on "
                f"[bold]{embedded.bootstrap}[/] (pid {embedded.pid}, cluster id "
                f"{embedded.cluster_id})"
                + (f"; {embedded.port_note}" if embedded.port_note else ""),
                markup=True,
            )
        else:
            check_result = require_reachable(settings)
            err_console.print(
                f"Kafka at {settings.bootstrap_servers}: cluster {check_result.cluster_id}, "
                f"{len(check_result.brokers)} broker(s), {check_result.latency_ms} ms"
            )
        ensure_topic(settings)
        simulator = ArraySimulator(elements, sites, seed=seed, chunk_samples=chunk_samples)
        publisher = Publisher(settings)
        if api:
            free = port_is_free(api_host, api_port)
            served = start_api(
                settings,
                publisher=publisher,
                host=api_host,
                port=api_port if free else 0,
                insecure=insecure,
            )
            cleanup.callback(served.close)
            err_console.print(
                f"dashboard and API on [bold]{served.url}[/] (/metrics for Prometheus)"
                + ("" if free else f"; port {api_port} was taken")
            )
        err_console.print(
            f"streaming {elements} elements over {sites} sites at {rate:g} Hz into "
            f"{settings.topic}; Ctrl-C stops"
        )
        report = run_simulation(
            publisher,
            simulator,
            rate=rate,
            duration_s=None,
            count=None,
            live=err_console.is_terminal,
            status_interval=status_s,
            stop=stop,
        )
    if not report.complete:
        raise typer.Exit(Exit.PROBLEM)


def register(app: typer.Typer) -> None:
    for command in (simulate, up):
        app.command()(command)
