"""What acts on the topic's records: ``produce`` and ``consume`` (the spec's console producer
and consumer), and ``schema`` (the packet they carry)."""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Annotated, BinaryIO

import msgspec
import typer
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka import KafkaError as RdKafkaError

from .._units import parse_duration
from ..clients import consumer_config
from ..errors import (
    PacketError,
    SecurityError,
    TopicError,
    from_kafka_error,
    note_client_error,
    recent_security_error,
)
from ..packet import decode_packet, encode_packet, json_schema
from ..publisher import Publisher, TopicMissingError
from .common import (
    BootstrapOpt,
    PartitionerOpt,
    ProfileOpt,
    TopicOpt,
    err_console,
    fail,
    load_settings,
)
from .exits import Exit, stop_on_signals
from .live import report_delivery

__all__ = ["JOIN_LIMIT_S", "consume", "produce", "register", "schema"]


def schema() -> None:
    """Print the packet's JSON Schema (KafkaPayload, with units)."""
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(json_schema()), indent=2).decode())
    sys.stdout.write("\n")


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

    The topic must exist (exit 6 otherwise). Ctrl-C or SIGTERM stop reading; what was read
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
    with stop_on_signals() as stop, contextlib.ExitStack() as closing:
        if stream_in is not sys.stdin.buffer:
            closing.callback(stream_in.close)
        publisher = Publisher(settings)  # no such topic: TopicMissingError, exit 6
        number = 0
        for line in _lines(stream_in, stop):
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
        if stop.is_set():
            err_console.print("interrupted: flushing what was read...")
        report = publisher.close()
    report_delivery(report, err_console)
    if bad:
        err_console.print(f"[bold red]{bad} bad line(s) skipped[/]; {good} packet(s) sent")
    if bad or not report.complete:
        raise typer.Exit(Exit.PROBLEM)


def _lines(stream_in: BinaryIO, stop: threading.Event) -> Iterator[bytes]:
    """The lines of ``stream_in`` until its end or ``stop``.

    A daemon thread reads (a read of a pipe or a terminal blocks, and a signal that only sets
    ``stop`` does not end it); this generator hands the lines over and checks ``stop`` between
    them, so Ctrl-C or SIGTERM never lands inside a Kafka call.
    """
    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=64)

    # Read the descriptor itself: a read blocked in a buffered reader holds its lock, and the
    # interpreter's shutdown then stops with a fatal error instead of exiting.
    try:
        fd: int | None = stream_in.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None  # an in-memory stream, which never blocks
    read1 = getattr(stream_in, "read1", stream_in.read)

    def read() -> None:
        try:
            while chunk := os.read(fd, 1 << 16) if fd is not None else read1(1 << 16):
                chunks.put(chunk)
        except (OSError, ValueError):
            pass  # closed under us after a stop
        finally:
            chunks.put(None)

    threading.Thread(target=read, name="horizons-produce-input", daemon=True).start()
    rest = b""
    while not stop.is_set():
        try:
            chunk = chunks.get(timeout=0.2)
        except queue.Empty:
            continue
        if chunk is None:
            break
        *whole, rest = (rest + chunk).split(b"\n")
        for line in whole:
            if stop.is_set():
                return
            yield line + b"\n"
    if rest and not stop.is_set():
        yield rest


#: How long ``consume`` waits for its first partition (the group join) before giving up.
JOIN_LIMIT_S = 60.0
_METADATA_TIMEOUT_S = 10.0
_MISSING_TOPIC = (RdKafkaError.UNKNOWN_TOPIC_OR_PART, RdKafkaError._UNKNOWN_TOPIC)


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
        raise TopicMissingError(topic, bootstrap)


def consume(  # noqa: C901  (one loop for --follow, --timeout and errors; to be split)
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

    Exit 0 when done (idle for --timeout, or --max-messages read), 6 when the topic does not
    exist, 3 when the broker is unreachable or lost, 4 when SASL authentication or TLS failed.
    Ctrl-C or SIGTERM stop it (after the current poll).
    """
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
                # Shorter than the metadata request, so a TLS handshake that hangs is named.
                setup_timeout_ms=int(_METADATA_TIMEOUT_S * 700),
            ),
            "error_cb": on_error,
        }
    )
    out = sys.stdout.buffer
    printed = invalid = 0
    last = time.monotonic()
    started = last
    with stop_on_signals() as stop, contextlib.closing(consumer):
        _require_topic(consumer, settings.topic, bootstrap_servers)
        consumer.subscribe([settings.topic], on_assign=on_assign)
        while (max_messages is None or printed < max_messages) and not stop.is_set():
            msg = consumer.poll(0.5)
            if down and not follow:
                seen = recent_security_error(bootstrap_servers)
                if seen is not None:
                    raise seen.at(f"consuming {settings.topic}")
                fail(
                    f"consuming {settings.topic}: lost the broker at {bootstrap_servers} "
                    f"({down[-1].name()}: {down[-1].str()}); {printed} record(s) printed",
                    Exit.UNREACHABLE,
                )
            if msg is None:
                now = time.monotonic()
                if not assigned_at:
                    if now - started > JOIN_LIMIT_S:
                        fail(
                            f"consuming {settings.topic}: no partition was assigned within "
                            f"{JOIN_LIMIT_S:.0f} s (group coordinator of {bootstrap_servers})",
                            Exit.UNREACHABLE,
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
                if error.code() in _MISSING_TOPIC:
                    raise TopicMissingError(settings.topic, bootstrap_servers) from translated
                if isinstance(translated, SecurityError):
                    raise translated
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
    err_console.print(f"{printed} record(s)" + (f", {invalid} invalid" if invalid else ""))


def _as_json(value: bytes) -> msgspec.Raw | str:
    """A raw record value embedded as JSON when it is JSON, else as a string."""
    try:
        msgspec.json.decode(value)
    except msgspec.DecodeError:
        return value.decode("utf-8", "replace")
    return msgspec.Raw(value)


def register(app: typer.Typer) -> None:
    for command in (schema, produce, consume):
        app.command()(command)
