"""What fills the topic with simulated telemetry: ``simulate`` and ``up`` (the whole stack:
broker, topic, simulated array, API)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from .._units import parse_duration
from ..api.guard import require_safe_exposure, token_from_env
from ..api.runtime import start_api
from ..broker import EmbeddedBroker, port_is_free
from ..cluster import require_reachable
from ..config import KafkaSettings
from ..errors import BrokerUnavailableError
from ..kafka_local import LocalKafkaCluster
from ..publisher import Publisher
from ..simulator import ArraySimulator
from ..topics import TopicAdmin, desired_topic
from .broker import DataOpt, Engine, EngineOpt, NodesOpt
from .common import (
    BootstrapOpt,
    EncodingOpt,
    PartitionerOpt,
    ProfileOpt,
    TopicOpt,
    err_console,
    load_settings,
)
from .exits import stop_on_signals
from .live import (
    DEFAULT_STATUS_INTERVAL,
    StatusIntervalOpt,
    parse_status_interval,
)
from .simulate_run import exit_code, run_and_exit, run_simulation
from .spool import (
    DrainRateOpt,
    FsyncEveryOpt,
    FsyncIntervalOpt,
    SpoolDirOpt,
    SpoolMaxOpt,
    SpoolPolicyOpt,
    spool_settings,
)

__all__ = [
    "ensure_topic",
    "exit_code",
    "register",
    "run_and_exit",
    "run_simulation",
    "simulate",
    "up",
]


ElementsOpt = Annotated[int, typer.Option(help="Number of array elements (antennas).")]
SitesOpt = Annotated[int, typer.Option(help="Number of observatory sites (hubs).")]
RateOpt = Annotated[float, typer.Option(help="Packets per second per element (Hz).")]
SeedOpt = Annotated[int, typer.Option(help="Random seed: the same seed, the same values.")]
ChunkOpt = Annotated[
    int, typer.Option(help="Complex64 visibility samples per data_chunk (0: none).")
]


def ensure_topic(settings: KafkaSettings, *, spooling: bool = False) -> None:
    """Create the topic with the profile's layout when missing; warn about drift. With a
    spool, an unreachable broker is a warning: the run starts spooling."""
    try:
        result = TopicAdmin(settings).ensure(desired_topic(settings.profile, settings.topic))
    except BrokerUnavailableError as exc:
        if not spooling:
            raise
        err_console.print(f"[yellow]{exc}[/]: starting anyway, spooling", soft_wrap=True)
        return
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
    encoding: EncodingOpt = None,
    spool: SpoolDirOpt = None,
    spool_max: SpoolMaxOpt = "10GiB",
    spool_policy: SpoolPolicyOpt = "block",
    drain_rate: DrainRateOpt = 20_000.0,
    fsync_every: FsyncEveryOpt = 1000,
    fsync_interval: FsyncIntervalOpt = "1s",
) -> None:
    """Stream simulated array telemetry into the topic, with a live progress line (a status
    line every --status-interval when the output is a log)."""
    with stop_on_signals() as stop:
        settings = load_settings(bootstrap, topic, profile).with_overrides(
            partitioner=partitioner, encoding=encoding
        )
        duration_s = parse_duration(duration, what="--duration") if duration else None
        status_s = parse_status_interval(status_interval)
        if count is not None and count < 1:
            raise typer.BadParameter("must be at least 1", param_hint="--count")
        spooling = spool_settings(
            spool, spool_max, spool_policy, drain_rate, fsync_every, fsync_interval
        )
        simulator = ArraySimulator(elements, sites, seed=seed, chunk_samples=chunk_samples)
        if ensure:
            ensure_topic(settings, spooling=spooling is not None)
        publisher = Publisher(settings, spool=spooling)
        err_console.print(
            f"simulating {elements} elements over {sites} sites at {rate:g} Hz each "
            f"into {settings.topic} on {settings.bootstrap_servers}"
            + (f"; spool {spool}" if spool else "")
        )
        run_and_exit(
            publisher,
            simulator,
            rate=rate,
            duration_s=duration_s,
            count=count,
            status_interval=status_s,
            stop=stop,
        )


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
    encoding: EncodingOpt = None,
    engine: EngineOpt = Engine.tansu,
    nodes: NodesOpt = 1,
    data: DataOpt = Path("data/kafka"),
    spool: SpoolDirOpt = None,
    spool_max: SpoolMaxOpt = "10GiB",
    spool_policy: SpoolPolicyOpt = "block",
    drain_rate: DrainRateOpt = 20_000.0,
    fsync_every: FsyncEveryOpt = 1000,
    fsync_interval: FsyncIntervalOpt = "1s",
) -> None:
    """The main job: broker (embedded unless Kafka is configured), topic, simulated array, API."""
    settings = load_settings(bootstrap, topic, profile).with_overrides(
        partitioner=partitioner, encoding=encoding
    )
    status_s = parse_status_interval(status_interval)
    spooling = spool_settings(
        spool, spool_max, spool_policy, drain_rate, fsync_every, fsync_interval
    )
    if api:  # refused before any broker starts
        require_safe_exposure(api_host, token_from_env(), insecure)
    with stop_on_signals() as stop, contextlib.ExitStack() as cleanup:
        if settings.bootstrap_servers is None and engine is Engine.kafka:
            local = LocalKafkaCluster(data, nodes).start()
            cleanup.callback(err_console.print, "Kafka cluster stopped")
            cleanup.callback(local.stop)
            _stop_when_dead(
                lambda: not any(local.running(n) for n in local.node_ids),
                "every node of the local Kafka cluster exited",
                stop,
            )
            settings = settings.with_overrides(bootstrap=local.bootstrap)
            err_console.print(
                f"no Kafka configured: local Apache Kafka ({nodes} node(s), data in {data}) on "
                f"[bold]{local.bootstrap}[/]"
            )
        elif settings.bootstrap_servers is None:
            embedded = EmbeddedBroker(port).start()
            cleanup.callback(err_console.print, "embedded broker stopped")
            cleanup.callback(embedded.stop)
            _stop_when_dead(
                lambda: not embedded.running,
                f"the embedded broker (pid {embedded.pid}) exited",
                stop,
            )
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
        publisher = Publisher(settings, spool=spooling)
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
        run_and_exit(publisher, simulator, rate=rate, status_interval=status_s, stop=stop)


def _stop_when_dead(dead: Callable[[], bool], what: str, stop: threading.Event) -> None:
    """Say once, clearly, that ``up``'s own broker died, and stop the run (nothing can be
    delivered to a broker that is gone; with --spool the packets stay spooled)."""

    def watch() -> None:
        while not stop.wait(1.0):
            if dead():
                err_console.print(
                    f"[bold red]{what}: nothing can be delivered any more; stopping[/]"
                )
                stop.set()
                return

    threading.Thread(target=watch, name="broker-watch", daemon=True).start()


def register(app: typer.Typer) -> None:
    for command in (simulate, up):
        app.command()(command)
