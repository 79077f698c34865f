"""What acts on the topic's records: ``produce`` and ``consume`` (the spec's console producer
and consumer, the latter in :mod:`.consume`), and ``schema`` (the packet they carry)."""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
from collections.abc import Iterator
from typing import Annotated, BinaryIO

import msgspec
import typer

from ..errors import (
    PacketError,
)
from ..packet import decode_packet, json_schema
from ..publisher import Publisher
from .common import (
    BootstrapOpt,
    EncodingOpt,
    PartitionerOpt,
    ProfileOpt,
    TopicOpt,
    err_console,
    load_settings,
)
from .consume import consume
from .exits import Exit, stop_on_signals
from .live import report_delivery

__all__ = ["produce", "register", "schema"]


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
    encoding: EncodingOpt = None,
) -> None:
    """Validate and send JSON-lines packets; each bad line is reported with its number (exit 1).

    --encoding binary sends each packet in the binary form (its data_chunk as raw bytes).

    The topic must exist (exit 6 otherwise). Ctrl-C or SIGTERM stop reading; what was read
    is flushed and reported.
    """
    settings = load_settings(bootstrap, topic, profile).with_overrides(
        partitioner=partitioner, encoding=encoding
    )
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


def register(app: typer.Typer) -> None:
    for command in (schema, produce, consume):
        app.command()(command)
