"""The latest records of one partition or one element, decoded (the dashboard's records panel)."""

from __future__ import annotations

import contextlib
import time

import msgspec
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message, TopicPartition
from confluent_kafka import KafkaError as RdKafkaError

from ..config import KafkaSettings
from ..errors import ConfigError, PacketError, kafka_errors
from ..packet import KafkaPayload
from ..packet_binary import decode_record
from .positions import element_partition, reader, topic_partitions

__all__ = ["BrowsedRecord", "latest_records"]

#: How far back (records per partition) an element's records are looked for.
ELEMENT_SCAN = 5000


class BrowsedRecord(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One record: where it is, its time, its key, and the packet (or why it is invalid)."""

    partition: int
    offset: int
    timestamp_ms: int | None
    key: str | None
    packet: KafkaPayload | None
    error: str | None = None


def _browsed(msg: Message) -> BrowsedRecord:
    kind, stamp = msg.timestamp()
    key = msg.key()
    packet: KafkaPayload | None = None
    error = None
    try:
        packet = decode_record(msg.value() or b"", msg.headers())
    except PacketError as exc:
        error = str(exc)
    return BrowsedRecord(
        partition=msg.partition() or 0,
        offset=msg.offset() or 0,
        timestamp_ms=stamp if kind != TIMESTAMP_NOT_AVAILABLE else None,
        key=None if key is None else key.decode("utf-8", "replace"),
        packet=packet,
        error=error,
    )


def _matches(record: BrowsedRecord, element: str | None) -> bool:
    if element is None:
        return True
    if record.packet is not None:
        return record.packet.element_id == element
    return record.key == element


def latest_records(
    settings: KafkaSettings,
    topic: str,
    *,
    partition: int | None = None,
    element: str | None = None,
    limit: int = 20,
    timeout: float = 5.0,
) -> list[BrowsedRecord]:
    """The last ``limit`` records of ``partition`` (or ``element``'s, or every partition's),
    newest last; reads up to each partition's high watermark as it was when asked."""
    if limit < 1:
        raise ConfigError(f"limit {limit}: must be at least 1")
    consumer = reader(settings, timeout=timeout)
    bootstrap = settings.bootstrap_servers
    with contextlib.closing(consumer):
        parts = topic_partitions(consumer, settings, topic)
        if partition is not None:
            if partition not in parts:
                raise ConfigError(f"{topic} has no partition {partition} (it has {len(parts)})")
            parts = [partition]
        elif element is not None:
            home = element_partition(settings, element, len(parts))
            parts = parts if home is None else [home]
        back = ELEMENT_SCAN if element is not None else limit
        ends: dict[int, int] = {}
        assign: list[TopicPartition] = []
        for p in parts:
            with kafka_errors("ListOffsets", f"{topic}[{p}]", client=consumer, bootstrap=bootstrap):
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=timeout
                )
            if high > low:
                ends[p] = high
                assign.append(TopicPartition(topic, p, max(low, high - back)))
        found: list[BrowsedRecord] = []
        if assign:
            consumer.assign(assign)
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            at, offset = msg.partition(), msg.offset()
            error = msg.error()
            if error is not None:
                if error.code() == RdKafkaError._PARTITION_EOF and at in ends:
                    del ends[at]  # the rest were control records
                continue
            if at is None or at not in ends or offset is None:
                continue
            p = at
            record = _browsed(msg)
            if _matches(record, element):
                found.append(record)
            if offset + 1 >= ends[p]:
                del ends[p]
                consumer.pause([TopicPartition(topic, p)])
    found.sort(key=lambda r: (r.timestamp_ms or 0, r.partition, r.offset))
    return found[-limit:]
