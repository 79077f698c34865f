"""Core commands: schema, broker, check, produce, consume, simulate, up."""

from __future__ import annotations

import contextlib
import enum
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, BinaryIO, NoReturn

import msgspec
import typer
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka import KafkaError as RdKafkaError
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .._units import parse_duration
from ..api.runtime import start_api
from ..broker import EmbeddedBroker, port_is_free
from ..clients import consumer_config
from ..cluster import BrokerCheck, check_broker, make_admin, require_reachable
from ..config import KafkaSettings
from ..errors import (
    HorizonsError,
    PacketError,
    SecurityError,
    TopicError,
    from_kafka_error,
    note_client_error,
    recent_security_error,
)
from ..kafka_local import LocalKafkaCluster, run_foreground
from ..packet import decode_packet, encode_packet, json_schema
from ..publisher import DeliveryReport, Publisher, TopicMissingError
from ..simulator import ArraySimulator, stream
from ..topics import TopicAdmin, desired_topic
from .common import (
    EXIT_SECURITY,
    BootstrapOpt,
    JsonOpt,
    ProfileOpt,
    TopicOpt,
    err_console,
    fail,
    load_settings,
    out_console,
    print_json,
    sigterm_as_interrupt,
)
from .live import (
    DEFAULT_STATUS_INTERVAL,
    StatusIntervalOpt,
    parse_status_interval,
    periodic_status,
    publisher_line,
)


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
        f"embedded broker (Tansu, in-memory) listening on [bold]{embedded.bootstrap}[/] "
        f"(pid {embedded.pid}, cluster id {embedded.cluster_id}); "
        f"clients use --bootstrap {embedded.bootstrap} "
        f"or KAFKA_BOOTSTRAP_SERVERS={embedded.bootstrap}. "
        "Ctrl-C stops it; it also stops when this process is killed."
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
    elif result.failure in ("authentication", "tls"):
        # The broker answered; the connection's security failed: no "start a broker" hint.
        err_console.print(
            f"[bold red]{result.failure} failed:[/] {escape(result.error or '')}", soft_wrap=True
        )
    else:
        err_console.print(f"[bold red]unreachable:[/] {escape(result.error or '')}", soft_wrap=True)
        err_console.print(
            "hint: start a local broker with `horizons broker`, or point --bootstrap / "
            "KAFKA_BOOTSTRAP_SERVERS at your cluster",
        )
    if not result.reachable:
        raise typer.Exit(EXIT_SECURITY if result.failure in ("authentication", "tls") else 1)


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
        if result.reachable or left <= 0 or result.failure in ("authentication", "tls"):
            break  # refused credentials or certificates do not fix themselves
        if attempts == 1 and not quiet:
            err_console.print(
                f"Kafka at {settings.bootstrap_servers} not reachable yet; "
                f"retrying for up to {left:.0f} s"
            )
        time.sleep(min(0.5, left))
    if result.reachable or result.failure in ("authentication", "tls"):
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
PartitionerOpt = Annotated[
    str | None,
    typer.Option(
        "--partitioner",
        help="Where keys go, as the topic's other producers put them: java (Java client, "
        "KafkaJS DefaultPartitioner, librdkafka murmur2_random), kafkajs-legacy (KafkaJS "
        "LegacyPartitioner), consistent_random (librdkafka's default) "
        "\\[default: HORIZONS_PARTITIONER or java].",
        show_default=False,
    ),
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
    status_interval: float = 0.0,
) -> DeliveryReport:
    """Stream the simulator through ``publisher`` with a live stats line (or, when ``live``
    is off, the same line every ``status_interval`` seconds); Ctrl-C stops cleanly."""
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
    try:
        with display:
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
    status_interval: StatusIntervalOpt = DEFAULT_STATUS_INTERVAL,
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    profile: ProfileOpt = None,
    partitioner: PartitionerOpt = None,
) -> None:
    """Stream simulated array telemetry into the topic, with a live progress line (a status
    line every --status-interval when the output is a log)."""
    sigterm_as_interrupt()
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
    )
    if not report.complete:
        raise typer.Exit(1)


#: `produce` (and `simulate --no-ensure`): the topic does not exist; nothing was sent.
EXIT_TOPIC_MISSING = 6


class _StopOnSignals:
    """SIGINT and SIGTERM ask ``produce`` to stop; neither raises inside a Kafka call.

    Python's default SIGINT handler raises KeyboardInterrupt wherever the main thread is,
    including inside confluent-kafka's ``produce()``, whose C code then reports the pending
    exception as a wrong ``TypeError`` (about header keys) instead of returning cleanly. Here
    a signal only sets :attr:`requested`, which the loop checks before each line, and raises
    only while the command waits for input (:meth:`read`), where nothing is half done.
    """

    _SIGNALS = (signal.SIGINT,) if sys.platform == "win32" else (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._reading = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self._reading:
            self._reading = False  # raise once: a second signal must not hit the except clause
            raise KeyboardInterrupt

    def read(self, lines: Iterator[bytes]) -> bytes | None:
        """The next line, or None at the end of input or when a signal came."""
        if self.requested:
            return None
        try:
            self._reading = True
            line = next(lines, None)
            self._reading = False
        except KeyboardInterrupt:
            self._reading = False
            return None
        return line

    def __enter__(self) -> _StopOnSignals:
        for signum in self._SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


def produce(
    source: Annotated[
        str, typer.Argument(help="JSON-lines file of packets, or - for standard input.")
    ] = "-",
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    profile: ProfileOpt = None,
    partitioner: PartitionerOpt = None,
) -> None:
    """Validate and send JSON-lines packets; each bad line is reported with its number (exit 1).

    The topic must exist (exit 4 otherwise). Ctrl-C or SIGTERM stop reading; what was read
    is flushed and reported.
    """
    settings = load_settings(bootstrap, topic, profile).with_overrides(partitioner=partitioner)
    stream_in: BinaryIO
    if source == "-":
        stream_in = sys.stdin.buffer
    else:
        try:
            stream_in = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {source}: {exc.strerror}") from None
    bad = good = 0
    with _StopOnSignals() as stop, contextlib.ExitStack() as closing:
        if stream_in is not sys.stdin.buffer:
            closing.callback(stream_in.close)
        try:
            publisher = Publisher(settings)
        except TopicMissingError as exc:
            fail(str(exc), EXIT_TOPIC_MISSING)
        lines = iter(stream_in)
        number = 0
        while (line := stop.read(lines)) is not None:
            number += 1
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
        if stop.requested:
            err_console.print("interrupted: flushing what was read...")
        report = publisher.close()
    report_delivery(report)
    if bad:
        err_console.print(f"[bold red]{bad} bad line(s) skipped[/]; {good} packet(s) sent")
    if bad or not report.complete:
        raise typer.Exit(1)


EXIT_NO_TOPIC = 1
EXIT_BROKER = 3
#: How long ``consume`` waits for its first partition (the group join) before giving up.
JOIN_LIMIT_S = 60.0
_METADATA_TIMEOUT_S = 10.0
_MISSING_TOPIC = (RdKafkaError.UNKNOWN_TOPIC_OR_PART, RdKafkaError._UNKNOWN_TOPIC)


def _consume_failure(exc: HorizonsError) -> NoReturn:
    """One line and the documented exit code for what stopped ``consume``."""
    if isinstance(exc, SecurityError):
        fail(str(exc), EXIT_SECURITY)
    if isinstance(exc, TopicError) and exc.code == "UNKNOWN_TOPIC_OR_PART":
        fail(str(exc), EXIT_NO_TOPIC)
    fail(str(exc), EXIT_BROKER)


def _require_topic(consumer: Consumer, topic: str, bootstrap: str) -> None:
    """The broker answers and ``topic`` exists (all topics are listed: asking for one creates
    it on brokers that auto-create topics)."""
    deadline = time.monotonic() + _METADATA_TIMEOUT_S
    while True:
        # Short attempts: a SASL/TLS failure is reported as soon as librdkafka names it.
        try:
            metadata = consumer.list_topics(timeout=1.0)
            break
        except KafkaException as exc:
            error = from_kafka_error(
                exc, operation="Metadata", target=bootstrap, client=consumer, bootstrap=bootstrap
            )
            if isinstance(error, SecurityError) or time.monotonic() >= deadline:
                raise error from exc
    if topic not in metadata.topics:
        raise TopicError(
            f"topic {topic} does not exist on {bootstrap}", code="UNKNOWN_TOPIC_OR_PART"
        )


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
        str,
        typer.Option(
            "--timeout",
            help="Exit when no record arrived for this long, counted from when the first "
            "partition is assigned (the group join does not count).",
        ),
    ] = "10s",
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Keep waiting for new records until Ctrl-C."),
    ] = False,
    raw: Annotated[
        bool, typer.Option("--raw", help="Print values as stored, without validating them.")
    ] = False,
    meta: Annotated[
        bool, typer.Option("--meta", help="Wrap each line with partition, offset and key.")
    ] = False,
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
) -> None:
    """Print records of the topic as JSON lines (the spec's kafka-console-consumer).

    Exit 0 when done (idle for --timeout, or --max-messages read), 1 when the topic does not
    exist, 3 when the broker is unreachable or lost, 4 when SASL authentication or TLS failed.
    """
    sigterm_as_interrupt()
    settings = load_settings(bootstrap, topic)
    idle_s = parse_duration(timeout, what="--timeout")
    if max_messages is not None and max_messages < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--max-messages")
    down: list[RdKafkaError] = []

    def on_error(err: RdKafkaError) -> None:
        # A SASL/TLS failure explains the transport errors that follow it.
        note_client_error(err, bootstrap_servers)
        if err.code() == RdKafkaError._ALL_BROKERS_DOWN or err.fatal():
            down.append(err)

    assigned_at: list[float] = []

    def on_assign(consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions and not assigned_at:
            assigned_at.append(time.monotonic())

    bootstrap_servers = settings.require_bootstrap()
    consumer = Consumer(
        {
            **consumer_config(
                settings,
                "consume",
                group=group or f"horizons-console-{uuid.uuid4().hex[:12]}",
                from_beginning=from_beginning,
                auto_commit=group is not None,
                setup_timeout_ms=int(_METADATA_TIMEOUT_S * 700),
            ),
            "error_cb": on_error,
        }
    )
    out = sys.stdout.buffer
    printed = invalid = 0
    last = time.monotonic()
    started = last
    try:
        try:
            _require_topic(consumer, settings.topic, bootstrap_servers)
        except HorizonsError as exc:
            _consume_failure(exc)
        consumer.subscribe([settings.topic], on_assign=on_assign)
        while max_messages is None or printed < max_messages:
            msg = consumer.poll(0.5)
            if down and not follow:
                seen = recent_security_error(bootstrap_servers)
                if seen is not None:
                    _consume_failure(seen.at(f"consuming {settings.topic}"))
                fail(
                    f"consuming {settings.topic}: lost the broker at {bootstrap_servers} "
                    f"({down[-1].name()}: {down[-1].str()}); {printed} record(s) printed",
                    EXIT_BROKER,
                )
            if msg is None:
                now = time.monotonic()
                if not assigned_at:
                    if now - started > JOIN_LIMIT_S:
                        fail(
                            f"consuming {settings.topic}: no partition was assigned within "
                            f"{JOIN_LIMIT_S:.0f} s (group coordinator of {bootstrap_servers})",
                            EXIT_BROKER,
                        )
                    continue
                if not follow and now - max(last, assigned_at[0]) > idle_s:
                    break
                continue
            error = msg.error()
            if error is not None:
                if error.code() == RdKafkaError._PARTITION_EOF:
                    continue
                translated = from_kafka_error(
                    KafkaException(error),
                    operation="Fetch",
                    target=settings.topic,
                    error_type=TopicError,
                    client=consumer,
                    bootstrap=bootstrap_servers,
                )
                if isinstance(translated, SecurityError) or (
                    error.code()
                    in (RdKafkaError.UNKNOWN_TOPIC_OR_PART, RdKafkaError._UNKNOWN_TOPIC)
                ):
                    _consume_failure(translated)
                err_console.print(f"consumer error: {translated}", markup=False)
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
    sigterm_as_interrupt()
    settings = load_settings(bootstrap, topic, profile).with_overrides(partitioner=partitioner)
    status_s = parse_status_interval(status_interval)
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
            status_interval=status_s,
        )
    if not report.complete:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    for command in (schema, broker, check, simulate, produce, consume, up):
        app.command()(command)
