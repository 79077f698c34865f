"""Core commands: schema, broker, check, produce, consume, simulate, up."""

from __future__ import annotations

import contextlib
import enum
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated, BinaryIO

import msgspec
import typer
from confluent_kafka import Consumer
from rich.live import Live
from rich.table import Table

from .._units import parse_duration
from ..api.runtime import start_api
from ..broker import EmbeddedBroker, port_is_free
from ..cluster import BrokerCheck, check_broker, make_admin, require_reachable
from ..config import KafkaSettings
from ..errors import PacketError
from ..kafka_local import LocalKafkaCluster, run_foreground
from ..packet import decode_packet, encode_packet, json_schema
from ..publisher import DeliveryReport, Publisher
from ..simulator import ArraySimulator, stream
from ..topics import TopicAdmin, desired_topic
from .common import (
    BootstrapOpt,
    JsonOpt,
    ProfileOpt,
    TopicOpt,
    err_console,
    load_settings,
    out_console,
    print_json,
    sigterm_as_interrupt,
)
from .live import publisher_line


def schema() -> None:
    """Print the packet's JSON Schema (KafkaPayload, with units)."""
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(json_schema()), indent=2).decode())
    sys.stdout.write("\n")


class Engine(enum.StrEnum):
    tansu = "tansu"
    kafka = "kafka"


EngineOpt = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="tansu: the embedded in-memory broker (no JVM); kafka: a local Apache Kafka "
        "(KRaft) cluster on disk, from tools/kafka/fetch (needs Java 17+).",
    ),
]
NodesOpt = Annotated[int, typer.Option("--nodes", min=1, help="Kafka engine: number of nodes.")]
DataOpt = Annotated[
    Path,
    typer.Option(
        "--data", help="Kafka engine: data folder (the same folder brings the same cluster back)."
    ),
]


def broker(
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on (Tansu).")] = 9092,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on and advertise.")
    ] = "127.0.0.1",
    engine: EngineOpt = Engine.tansu,
    nodes: NodesOpt = 1,
    data: DataOpt = Path("data/kafka"),
) -> None:
    """Run a broker until Ctrl-C or SIGTERM: embedded Tansu (in memory) or local Kafka."""
    sigterm_as_interrupt()
    if engine is Engine.kafka:
        raise typer.Exit(run_foreground(data, nodes, err_console.print))
    embedded = EmbeddedBroker(port, host=host)
    embedded.start()
    err_console.print(
        f"embedded broker (Tansu, in-memory) listening on [bold]{embedded.bootstrap}[/]; "
        f"clients use --bootstrap {embedded.bootstrap} "
        f"or KAFKA_BOOTSTRAP_SERVERS={embedded.bootstrap}. "
        "Ctrl-C stops it."
    )
    try:
        code = embedded.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        embedded.stop()
    err_console.print("embedded broker stopped")
    raise typer.Exit(code)


def check(
    bootstrap: BootstrapOpt = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for an answer.")
    ] = 5.0,
    as_json: JsonOpt = False,
    wait: Annotated[
        str | None,
        typer.Option(
            "--wait",
            help="Retry until the broker answers or this long has passed (30s, 2m).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Is the broker reachable? Cluster id, brokers, round-trip latency. Exit 1 when unreachable."""
    settings = load_settings(bootstrap)
    if wait is None:
        result = check_broker(settings, timeout=timeout)
    else:
        wait_s = parse_duration(wait, what="--wait")
        result = _wait_for_broker(settings, wait_s, timeout, quiet=as_json)
    if as_json:
        print_json(result)
    elif result.reachable:
        table = Table(title=f"Kafka at {result.bootstrap}: reachable in {result.latency_ms} ms")
        table.add_column("broker id", justify="right")
        table.add_column("host")
        table.add_column("port", justify="right")
        table.add_column("role")
        for b in result.brokers:
            table.add_row(
                str(b.id), b.host, str(b.port), "controller" if b.id == result.controller_id else ""
            )
        out_console.print(table)
        out_console.print(f"cluster id: {result.cluster_id}   topics: {result.topics}")
    else:
        err_console.print(f"[bold red]unreachable:[/] {result.error}", soft_wrap=True)
        err_console.print(
            "hint: start a local broker with `horizons broker`, or point --bootstrap / "
            "KAFKA_BOOTSTRAP_SERVERS at your cluster",
        )
    if not result.reachable:
        raise typer.Exit(1)


def _wait_for_broker(
    settings: KafkaSettings, wait_s: float, timeout: float, *, quiet: bool
) -> BrokerCheck:
    """Retry :func:`check_broker` on one admin client until it answers or ``wait_s`` passes."""
    deadline = time.monotonic() + wait_s
    admin = make_admin(settings, timeout_ms=int(timeout * 1000))
    attempts = 0
    while True:
        attempt_s = max(0.5, min(timeout, deadline - time.monotonic()))
        result = check_broker(settings, timeout=attempt_s, admin=admin)
        attempts += 1
        left = deadline - time.monotonic()
        if result.reachable or left <= 0:
            break
        if attempts == 1 and not quiet:
            err_console.print(
                f"Kafka at {settings.bootstrap_servers} not reachable yet; "
                f"retrying for up to {left:.0f} s"
            )
        time.sleep(min(0.5, left))
    if result.reachable:
        return result
    waited = f"{result.error}; still unreachable after waiting {wait_s:g} s"
    return msgspec.structs.replace(result, error=waited)


ElementsOpt = Annotated[int, typer.Option(help="Number of array elements (antennas).")]
SitesOpt = Annotated[int, typer.Option(help="Number of observatory sites (hubs).")]
RateOpt = Annotated[float, typer.Option(help="Packets per second per element (Hz).")]
SeedOpt = Annotated[int, typer.Option(help="Random seed: the same seed, the same values.")]
ChunkOpt = Annotated[
    int, typer.Option(help="Complex64 visibility samples per data_chunk (0: none).")
]


def report_delivery(report: DeliveryReport) -> None:
    """One line on stderr: what was delivered and what was not."""
    style = "green" if report.complete else "bold red"
    err_console.print(
        f"[{style}]delivered {report.delivered:,} of {report.sent:,}; failed {report.failed:,}"
        + (
            f" ({report.undelivered_at_close:,} still queued at shutdown)"
            if report.undelivered_at_close
            else ""
        )
        + "[/]"
    )


def run_simulation(
    publisher: Publisher,
    simulator: ArraySimulator,
    *,
    rate: float,
    duration_s: float | None,
    count: int | None,
    live: bool = True,
) -> DeliveryReport:
    """Stream the simulator through ``publisher`` with a live stats line; Ctrl-C stops cleanly."""
    started = time.monotonic()
    target = rate * len(simulator.elements)
    display = Live(
        get_renderable=lambda: publisher_line(
            publisher.snapshot(), target_rate=target, started=started
        ),
        console=err_console,
        refresh_per_second=4,
        transient=False,
    )
    try:
        with display if live else contextlib.nullcontext():
            stream(
                simulator, publisher.publish_many, rate_hz=rate, duration_s=duration_s, count=count
            )
    except KeyboardInterrupt:
        err_console.print("stopping: flushing queued packets...")
    report = publisher.close()
    report_delivery(report)
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
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Stream simulated array telemetry into the topic, with a live progress line."""
    sigterm_as_interrupt()
    settings = load_settings(bootstrap, topic, profile)
    duration_s = parse_duration(duration, what="--duration") if duration else None
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
    )
    if not report.complete:
        raise typer.Exit(1)


def produce(
    source: Annotated[
        str, typer.Argument(help="JSON-lines file of packets, or - for standard input.")
    ] = "-",
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Validate and send JSON-lines packets; each bad line is reported with its number (exit 1)."""
    sigterm_as_interrupt()
    settings = load_settings(bootstrap, topic, profile)
    stream_in: BinaryIO
    if source == "-":
        stream_in = sys.stdin.buffer
    else:
        try:
            stream_in = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {source}: {exc.strerror}") from None
    bad = good = 0
    publisher = Publisher(settings)
    try:
        for number, line in enumerate(stream_in, start=1):
            if not line.strip():
                continue
            try:
                packet = decode_packet(line)
            except PacketError as exc:
                bad += 1
                err_console.print(f"{source}:{number}: {exc.field}: {exc.reason}", markup=False)
                continue
            if publisher.publish(packet):
                good += 1
    except KeyboardInterrupt:
        err_console.print("interrupted: flushing what was read...")
    finally:
        if stream_in is not sys.stdin.buffer:
            stream_in.close()
    report = publisher.close()
    report_delivery(report)
    if bad:
        err_console.print(f"[bold red]{bad} bad line(s) skipped[/]; {good} packet(s) sent")
    if bad or not report.complete:
        raise typer.Exit(1)


def consume(
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at the oldest record.")
    ] = False,
    max_messages: Annotated[
        int | None, typer.Option("--max-messages", help="Exit after this many records.")
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            "--group", help="Consumer group (commits its offsets); default: a throwaway group."
        ),
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option("--timeout", help="Exit when no record arrives for this long (10s)."),
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Print values as stored, without validating them.")
    ] = False,
    meta: Annotated[
        bool, typer.Option("--meta", help="Wrap each line with partition, offset and key.")
    ] = False,
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
) -> None:
    """Print records of the topic as JSON lines (the spec's kafka-console-consumer)."""
    sigterm_as_interrupt()
    settings = load_settings(bootstrap, topic)
    idle_s = parse_duration(timeout, what="--timeout") if timeout else None
    consumer = Consumer(
        {
            **settings.client_config("cosmic-horizons-console"),
            "group.id": group or f"horizons-console-{uuid.uuid4().hex[:12]}",
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": group is not None,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
        }
    )
    consumer.subscribe([settings.topic])
    out = sys.stdout.buffer
    printed = invalid = 0
    last = time.monotonic()
    try:
        while max_messages is None or printed < max_messages:
            msg = consumer.poll(0.5)
            if msg is None:
                if idle_s is not None and time.monotonic() - last > idle_s:
                    break
                continue
            if msg.error():
                err_console.print(f"consumer error: {msg.error()}", markup=False)
                continue
            last = time.monotonic()
            value = msg.value() or b""
            if not raw:
                try:
                    value = encode_packet(decode_packet(value))
                except PacketError as exc:
                    invalid += 1
                    err_console.print(
                        f"{msg.topic()}[{msg.partition()}]@{msg.offset()}: invalid packet: {exc}",
                        markup=False,
                    )
                    continue
            if meta:
                key = msg.key()
                value = msgspec.json.encode(
                    {
                        "partition": msg.partition(),
                        "offset": msg.offset(),
                        "timestamp": msg.timestamp()[1],
                        "key": key.decode("utf-8", "replace") if key is not None else None,
                        "value": _as_json(value) if raw else msgspec.Raw(value),
                    }
                )
            out.write(value + b"\n")
            out.flush()
            printed += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    err_console.print(f"{printed} record(s)" + (f", {invalid} invalid" if invalid else ""))


def _as_json(value: bytes) -> msgspec.Raw | str:
    """A raw record value embedded as JSON when it is JSON, else as a string."""
    try:
        msgspec.json.decode(value)
    except msgspec.DecodeError:
        return value.decode("utf-8", "replace")
    return msgspec.Raw(value)


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
    api_port: Annotated[
        int, typer.Option(help="API port (a free one is used when it is taken).")
    ] = 8000,
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    profile: ProfileOpt = None,
    engine: EngineOpt = Engine.tansu,
    nodes: NodesOpt = 1,
    data: DataOpt = Path("data/kafka"),
) -> None:
    """The main job: broker (embedded unless Kafka is configured), topic, simulated array, API."""
    sigterm_as_interrupt()
    settings = load_settings(bootstrap, topic, profile)
    with contextlib.ExitStack() as cleanup:
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
                f"[bold]{embedded.bootstrap}[/]"
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
                settings, publisher=publisher, host=api_host, port=api_port if free else 0
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
        )
    if not report.complete:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    for command in (schema, broker, check, simulate, produce, consume, up):
        app.command()(command)
