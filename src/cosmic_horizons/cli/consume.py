"""``horizons consume``: print a topic's records (the spec's kafka-console-consumer), and
browse them: one partition, from an offset or a time, one element's records.

Registered by :mod:`.records`. Without --partition/--offset/--from-time/--element it joins a
consumer group (a throwaway one unless --group); with them it reads assigned partitions and
joins no group.
"""

from __future__ import annotations

import contextlib
import sys
import time
import uuid
from typing import Annotated

import msgspec
import typer
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from confluent_kafka import KafkaError as RdKafkaError

from .._units import parse_duration
from ..acls import lacking
from ..archiver.reader import parse_time
from ..browse import Start, element_partition, reader, start_positions, topic_partitions
from ..clients import consumer_config
from ..config import KafkaSettings
from ..errors import (
    AuthorizationError,
    ConfigError,
    PacketError,
    SecurityError,
    TopicError,
    from_kafka_error,
    note_client_error,
    recent_security_error,
)
from ..packet import BINARY_CONTENT_TYPE, decode_packet, encode_packet
from ..packet_binary import content_type_of, decode_record, is_binary
from ..publisher import TopicMissingError
from .common import BootstrapOpt, TopicOpt, err_console, fail, load_settings
from .exits import Exit, stop_on_signals

__all__ = ["JOIN_LIMIT_S", "consume"]

#: How long ``consume`` waits for its first partition (the group join) before giving up.
JOIN_LIMIT_S = 60.0
_METADATA_TIMEOUT_S = 10.0
_MISSING_TOPIC = (RdKafkaError.UNKNOWN_TOPIC_OR_PART, RdKafkaError._UNKNOWN_TOPIC)


def _require_topic(consumer: Consumer, settings: KafkaSettings) -> None:
    """The broker answers and ``topic`` exists (all topics are listed: asking for one creates
    it on brokers that auto-create topics)."""
    topic, bootstrap = settings.topic, settings.require_bootstrap()
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
        _raise_if_not_described(consumer, settings)
        raise TopicMissingError(topic, bootstrap)


def _raise_if_not_described(consumer: Consumer, settings: KafkaSettings) -> None:
    """A secured cluster leaves out of the full list the topics this principal may not
    describe: asked by name (auto-creation is off there), such a topic is refused."""
    if settings.security_protocol == "PLAINTEXT":
        return
    try:
        found = consumer.list_topics(settings.topic, timeout=_METADATA_TIMEOUT_S)
    except KafkaException:
        return
    error = found.topics[settings.topic].error if settings.topic in found.topics else None
    if error is not None and error.code() == RdKafkaError.TOPIC_AUTHORIZATION_FAILED:
        refused = AuthorizationError(error.str(), code=error.name())
        raise lacking(refused, settings, "Describe", "topic", settings.topic)


def _as_json(value: bytes) -> msgspec.Raw | str:
    """A raw record value embedded as JSON when it is JSON, else as a string."""
    try:
        msgspec.json.decode(value)
    except msgspec.DecodeError:
        return value.decode("utf-8", "replace")
    return msgspec.Raw(value)


class _Printer:
    """Validates (unless raw), filters by element, and prints one record per line."""

    def __init__(self, *, raw: bool, meta: bool, element: str | None) -> None:
        self.raw, self.meta, self.element = raw, meta, element
        self.printed = self.invalid = 0
        self.out = sys.stdout.buffer

    def _value(self, msg: Message) -> bytes | None:
        value = msg.value() or b""
        headers = msg.headers()
        binary = is_binary(value) or content_type_of(headers) == BINARY_CONTENT_TYPE
        if self.raw and self.element is None and not binary:
            return value  # a binary value is no line of text: printed as its JSON form
        try:
            packet = decode_record(value, headers) if binary else decode_packet(value)
        except PacketError as exc:
            if self.raw:  # --raw --element: a value that is no packet has no element
                return None
            self.invalid += 1
            err_console.print(
                f"{msg.topic()}[{msg.partition()}]@{msg.offset()}: invalid packet: {exc}",
                markup=False,
            )
            return None
        if self.element is not None and packet.element_id != self.element:
            return None
        return value if self.raw and not binary else encode_packet(packet)

    def show(self, msg: Message) -> None:
        value = self._value(msg)
        if value is None:
            return
        if self.meta:
            key = msg.key()
            value = msgspec.json.encode(
                {
                    "partition": msg.partition(),
                    "offset": msg.offset(),
                    "timestamp": msg.timestamp()[1],
                    "key": key.decode("utf-8", "replace") if key is not None else None,
                    "value": _as_json(value) if self.raw else msgspec.Raw(value),
                }
            )
        self.out.write(value + b"\n")
        self.out.flush()
        self.printed += 1


class _Session:
    """One consumer, the errors its callbacks reported, and when it got its partitions."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self.bootstrap = settings.require_bootstrap()
        self.down: list[RdKafkaError] = []
        self.group: str | None = None
        self.assigned_at: float | None = None
        self.started = time.monotonic()

    def on_error(self, err: RdKafkaError) -> None:
        # A SASL/TLS failure explains the transport errors that follow it.
        note_client_error(err, self.bootstrap)
        if err.code() == RdKafkaError._ALL_BROKERS_DOWN or err.fatal():
            self.down.append(err)

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions and self.assigned_at is None:
            self.assigned_at = time.monotonic()

    def group_consumer(self, group: str | None, from_beginning: bool) -> Consumer:
        self.group = group or f"horizons-console-{uuid.uuid4().hex[:12]}"
        conf = consumer_config(
            self.settings,
            "consume",
            group=self.group,
            from_beginning=from_beginning,
            auto_commit=group is not None,
            # Shorter than the metadata request, so a TLS handshake that hangs is named.
            setup_timeout_ms=int(_METADATA_TIMEOUT_S * 700),
        )
        return Consumer({**conf, "error_cb": self.on_error})

    def check_down(self, printed: int) -> None:
        """Stop with the reason when the client lost every broker."""
        if not self.down:
            return
        seen = recent_security_error(self.bootstrap)
        if seen is not None:
            raise seen.at(f"consuming {self.settings.topic}")
        fail(
            f"consuming {self.settings.topic}: lost the broker at {self.bootstrap} "
            f"({self.down[-1].name()}: {self.down[-1].str()}); {printed} record(s) printed",
            Exit.UNREACHABLE,
        )

    def idle(self, idle_s: float, last: float, follow: bool) -> bool:
        """After an empty poll: whether to stop (idle for ``idle_s`` since assignment)."""
        now = time.monotonic()
        if self.assigned_at is None:
            if now - self.started > JOIN_LIMIT_S:
                fail(
                    f"consuming {self.settings.topic}: no partition was assigned within "
                    f"{JOIN_LIMIT_S:.0f} s (group coordinator of {self.bootstrap})",
                    Exit.UNREACHABLE,
                )
            return False
        return not follow and now - max(last, self.assigned_at) > idle_s

    def record_error(self, consumer: Consumer, error: RdKafkaError) -> None:
        """A per-record error: missing topic and SASL/TLS stop; others are reported."""
        if error.code() == RdKafkaError._PARTITION_EOF:
            return
        topic = self.settings.topic
        translated = from_kafka_error(
            KafkaException(error),
            operation="Fetch",
            target=topic,
            error_type=TopicError,
            client=consumer,
            bootstrap=self.bootstrap,
        )
        if error.code() in _MISSING_TOPIC:
            raise TopicMissingError(topic, self.bootstrap) from translated
        if isinstance(translated, AuthorizationError):
            if error.code() == RdKafkaError.GROUP_AUTHORIZATION_FAILED:
                raise lacking(translated, self.settings, "Read", "group", self.group or "")
            raise lacking(translated, self.settings, "Read", "topic", topic)
        if isinstance(translated, SecurityError):
            raise translated
        err_console.print(f"consumer error: {translated}", markup=False)


def _assign(session: _Session, partition: list[int], element: str | None, start: Start) -> Consumer:
    """A group-less consumer assigned the chosen partitions at ``start``."""
    settings, topic = session.settings, session.settings.topic
    consumer = reader(settings, error_cb=session.on_error)
    parts = topic_partitions(consumer, settings, topic)
    chosen = partition or parts
    unknown = sorted(set(chosen) - set(parts))
    if unknown:
        raise ConfigError(
            f"--partition {', '.join(map(str, unknown))}: {topic} has partitions 0-{len(parts) - 1}"
        )
    if element is not None and not partition:
        home = element_partition(settings, element, len(parts))
        chosen = chosen if home is None else [home]
    consumer.assign(start_positions(consumer, topic, chosen, start, bootstrap=session.bootstrap))
    session.assigned_at = time.monotonic()
    return consumer


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
    partition: Annotated[
        list[int] | None,
        typer.Option("--partition", help="Only this partition (repeat for several); no group."),
    ] = None,
    offset: Annotated[
        int | None,
        typer.Option(
            "--offset",
            help="Start at this offset of each partition read (negative: that many before "
            "the end); no group.",
            show_default=False,
        ),
    ] = None,
    from_time: Annotated[
        str | None,
        typer.Option(
            "--from-time",
            help="Start at the first record timed at or after this (ISO 8601, now-2h, -7d); "
            "no group.",
            show_default=False,
        ),
    ] = None,
    element: Annotated[
        str | None,
        typer.Option(
            "--element",
            "-e",
            help="Only this element's records (read from its partition, as the publisher "
            "places it); no group.",
            show_default=False,
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
        bool,
        typer.Option(
            "--raw",
            help="Print values as stored, without validating them (a binary packet: its JSON).",
        ),
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
    start = Start(
        offset=offset,
        time_ms=None if from_time is None else parse_time(from_time, what="--from-time"),
        beginning=from_beginning,
    )
    browsing = bool(partition) or offset is not None or from_time is not None or bool(element)
    if browsing and group is not None:
        raise ConfigError(
            "--group reads as a group member: it cannot be combined with "
            "--partition, --offset, --from-time or --element"
        )
    session = _Session(settings)
    printer = _Printer(raw=raw, meta=meta, element=element)
    with stop_on_signals() as stop:
        if browsing:
            consumer = _assign(session, partition or [], element, start)
        else:
            consumer = session.group_consumer(group, from_beginning)
            _require_topic(consumer, settings)
            consumer.subscribe([settings.topic], on_assign=session.on_assign)
        with contextlib.closing(consumer):
            last = time.monotonic()
            while (max_messages is None or printer.printed < max_messages) and not stop.is_set():
                msg = consumer.poll(0.5)
                if not follow:
                    session.check_down(printer.printed)
                if msg is None:
                    if session.idle(idle_s, last, follow):
                        break
                    continue
                error = msg.error()
                if error is not None:
                    session.record_error(consumer, error)
                    continue
                last = time.monotonic()
                printer.show(msg)
    invalid = printer.invalid
    err_console.print(f"{printer.printed} record(s)" + (f", {invalid} invalid" if invalid else ""))
