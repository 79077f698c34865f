"""Replaying archived packets into a topic (or out as JSON lines).

A replayed record keeps its original key (a record archived without one is keyed by its
element id, as the publisher does) and record timestamp, in the publisher's encoding (JSON
unless ``--encoding binary``); its headers are the packet headers plus
``replay.source: {topic}/{partition}/{offset}`` naming where it came from.
Replaying into the topic the archive was made from would be archived again, as new
offsets: a loop that duplicates data. It is refused unless asked for explicitly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

import msgspec

from ..errors import ArchiveError, ConfigError
from ..packet import Encoding, encode_packet, packet_headers
from ..packet_binary import encode_binary
from ..publisher import Publisher
from .fileformat import ArchivedRecord

__all__ = [
    "REPLAY_HEADER",
    "ReplayReport",
    "check_destination",
    "replay_headers",
    "replay_to_publisher",
    "write_json_lines",
]

#: Header naming the archived record a replayed record came from.
REPLAY_HEADER = "replay.source"


class ReplayReport(msgspec.Struct, kw_only=True):
    """How a replay ended."""

    destination: str
    """Topic name, or ``stdout``."""
    read: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    interrupted: bool = False
    error: str | None = None
    """Why reading the archive stopped early (an unreadable file), if it did."""

    @property
    def complete(self) -> bool:
        return (
            not self.interrupted
            and self.error is None
            and self.failed == 0
            and self.delivered == self.sent
        )


def check_destination(source: str, destination: str, *, into_source: bool) -> None:
    """Refuse to replay ``source``'s archive into ``source`` unless ``into_source``."""
    if source == destination and not into_source:
        raise ConfigError(
            f"refusing to replay the archive of {source!r} into {source!r} itself: the archiver "
            "would archive the replayed packets again under new offsets (a loop that duplicates "
            "data). Replay into another topic with --topic NAME, or pass --into-source if "
            "that is really what you want"
        )


def replay_headers(
    record: ArchivedRecord, encoding: Encoding = "json"
) -> list[tuple[str, str | bytes | None]]:
    """The packet headers (of ``encoding``) plus ``replay.source: topic/partition/offset``."""
    headers: list[tuple[str, str | bytes | None]] = list(packet_headers(encoding))
    headers.append((REPLAY_HEADER, f"{record.topic}/{record.partition}/{record.offset}".encode()))
    return headers


class _Pacer:
    """At most ``rate`` records per second (None: as fast as possible)."""

    def __init__(self, rate: float | None) -> None:
        if rate is not None and rate <= 0:
            raise ConfigError(f"--rate {rate}: must be greater than zero")
        self.rate = rate
        self.started = time.monotonic()
        self.count = 0

    def wait(self, stop: threading.Event | None) -> None:
        self.count += 1
        if self.rate is None:
            return
        due = self.started + (self.count - 1) / self.rate
        delay = due - time.monotonic()
        if delay > 0:
            if stop is not None:
                stop.wait(delay)
            else:
                time.sleep(delay)


def replay_to_publisher(
    records: Iterable[ArchivedRecord],
    publisher: Publisher,
    *,
    into_source: bool = False,
    rate: float | None = None,
    stop: threading.Event | None = None,
    flush_timeout: float = 60.0,
    on_progress: Callable[[ReplayReport], None] | None = None,
) -> ReplayReport:
    """Publish ``records`` in the order given through ``publisher``; wait for every delivery.

    Records are written in the publisher's encoding (the archive keeps packets, not the form
    they came in). The publisher is flushed but not closed. ``stop`` ends the replay early
    (the report says ``interrupted``); ``on_progress`` is called every 1000 records.
    """
    report = ReplayReport(destination=publisher.topic)
    pacer = _Pacer(rate)
    before = publisher.snapshot()
    checked: set[str] = set()
    encoding = publisher.encoding
    encode = encode_binary if encoding == "binary" else encode_packet
    try:
        for record in records:
            if stop is not None and stop.is_set():
                report.interrupted = True
                break
            if record.topic not in checked:
                check_destination(record.topic, publisher.topic, into_source=into_source)
                checked.add(record.topic)
            pacer.wait(stop)
            report.read += 1
            publisher.publish_encoded(
                record.key if record.key is not None else record.packet.element_id.encode(),
                encode(record.packet),
                record.kafka_timestamp_ms,
                replay_headers(record, encoding),
            )
            if on_progress is not None and report.read % 1000 == 0:
                on_progress(report)
    except ArchiveError as exc:  # what was queued is still delivered and counted
        report.error = str(exc)
    publisher.flush(flush_timeout)
    after = publisher.snapshot()
    report.sent = after.sent - before.sent
    report.delivered = after.delivered - before.delivered
    report.failed = after.failed - before.failed
    pending = report.sent - report.delivered - report.failed
    if pending > 0:
        report.failed += pending  # not acknowledged within the flush timeout
    return report


def write_json_lines(
    records: Iterable[ArchivedRecord],
    write: Callable[[bytes], object],
    *,
    rate: float | None = None,
    stop: threading.Event | None = None,
) -> ReplayReport:
    """Write each record's packet as one JSON line (the spec's field names)."""
    report = ReplayReport(destination="stdout")
    pacer = _Pacer(rate)
    try:
        for record in records:
            if stop is not None and stop.is_set():
                report.interrupted = True
                break
            pacer.wait(stop)
            report.read += 1
            write(encode_packet(record.packet) + b"\n")
            report.sent += 1
            report.delivered += 1
    except ArchiveError as exc:
        report.error = str(exc)
    return report
