"""A time window read straight from Kafka, for ``archive replay --from-kafka``.

Each partition is read from the first offset timed at or after the window's start up to the
first offset timed at or after its end (ListOffsets by timestamp, the high watermark when
there is none), keeping the records timed inside the window. Partitions are merged by
record timestamp as the archive's replay merges them; each stays in offset order. A
partition far ahead of the others is paused, so memory stays bounded.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator

import msgspec
from confluent_kafka import Consumer, Message, TopicPartition
from confluent_kafka import KafkaError as RdKafkaError

from ..archiver.fileformat import ArchivedRecord
from ..archiver.reader import TimeWindow
from ..config import KafkaSettings
from ..errors import BrokerUnavailableError, PacketError, kafka_errors
from ..packet_binary import decode_record
from .positions import Start, reader, start_positions, topic_partitions

__all__ = ["KafkaWindowStats", "kafka_window"]

_PAUSE_AT = 10_000  # buffered records of one partition
_STALL_S = 30.0  # no record at all for this long: the broker is gone


class KafkaWindowStats(msgspec.Struct, kw_only=True):
    """What reading the window found: partitions read, records skipped as invalid."""

    partitions: int = 0
    invalid: int = 0


def _bounds(
    consumer: Consumer, settings: KafkaSettings, topic: str, window: TimeWindow
) -> dict[int, tuple[int, int]]:
    """``{partition: (first offset, end offset)}`` of the partitions with records inside."""
    bootstrap = settings.bootstrap_servers
    parts = topic_partitions(consumer, settings, topic)
    high: dict[int, int] = {}
    low: dict[int, int] = {}
    for p in parts:
        with kafka_errors("ListOffsets", f"{topic}[{p}]", client=consumer, bootstrap=bootstrap):
            low[p], high[p] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
    first = {p: low[p] for p in parts}
    if window.start_ms is not None:
        at = start_positions(
            consumer, topic, parts, Start(time_ms=window.start_ms), bootstrap=bootstrap
        )
        first = {tp.partition: tp.offset if tp.offset >= 0 else high[tp.partition] for tp in at}
    end = dict(high)
    if window.end_ms is not None:
        at = start_positions(
            consumer, topic, parts, Start(time_ms=window.end_ms), bootstrap=bootstrap
        )
        end = {tp.partition: tp.offset if tp.offset >= 0 else high[tp.partition] for tp in at}
    return {p: (first[p], end[p]) for p in parts if end[p] > first[p]}


def _record(topic: str, partition: int, offset: int, msg: Message) -> ArchivedRecord:
    return ArchivedRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        kafka_timestamp_ms=msg.timestamp()[1],
        key=msg.key(),
        packet=decode_record(msg.value() or b"", msg.headers()),
    )


class _Merge:
    """Per-partition buffers merged by record time; a partition far ahead is paused."""

    def __init__(self, consumer: Consumer, topic: str, bounds: dict[int, tuple[int, int]]) -> None:
        self.consumer, self.topic, self.bounds = consumer, topic, bounds
        self.buffers: dict[int, deque[ArchivedRecord]] = {p: deque() for p in bounds}
        self.open = set(bounds)  # still to be read up to their end offset
        self.paused: set[int] = set()

    def ready(self) -> Iterator[ArchivedRecord]:
        """Records in time order while every partition still being read has one buffered."""
        while any(self.buffers.values()) and all(self.buffers[p] for p in self.open):
            heads = [(b[0].kafka_timestamp_ms, p) for p, b in self.buffers.items() if b]
            _, p = min(heads)
            yield self.buffers[p].popleft()
            if p in self.paused and len(self.buffers[p]) < _PAUSE_AT // 2:
                self.consumer.resume([TopicPartition(self.topic, p)])
                self.paused.discard(p)

    def add(self, p: int, offset: int, record: ArchivedRecord | None) -> None:
        if record is not None:
            self.buffers[p].append(record)
            if len(self.buffers[p]) >= _PAUSE_AT and p not in self.paused:
                self.consumer.pause([TopicPartition(self.topic, p)])
                self.paused.add(p)
        if offset + 1 >= self.bounds[p][1]:
            self.open.discard(p)

    @property
    def done(self) -> bool:
        return not self.open and not any(self.buffers.values())


def kafka_window(
    settings: KafkaSettings,
    topic: str,
    window: TimeWindow,
    *,
    elements: Iterable[str] = (),
    stats: KafkaWindowStats | None = None,
    stop: threading.Event | None = None,
) -> Iterator[ArchivedRecord]:
    """The records of ``topic`` timed in ``window`` (only ``elements``' when given)."""
    stats = stats if stats is not None else KafkaWindowStats()
    wanted = frozenset(elements)
    consumer = reader(settings)
    with contextlib.closing(consumer):
        bounds = _bounds(consumer, settings, topic, window)
        stats.partitions = len(bounds)
        if not bounds:
            return
        consumer.assign([TopicPartition(topic, p, a) for p, (a, _) in bounds.items()])
        merge = _Merge(consumer, topic, bounds)
        last_seen = time.monotonic()
        while not merge.done:
            if stop is not None and stop.is_set():
                return
            for ready in merge.ready():
                if window.contains(ready.kafka_timestamp_ms) and (
                    not wanted or ready.packet.element_id in wanted
                ):
                    yield ready
            if not merge.open:
                continue
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                _eof_or_stall(msg, merge, last_seen, topic)
                continue
            last_seen = time.monotonic()
            p, offset = msg.partition(), msg.offset()
            if p is None or offset is None or p not in merge.open:
                continue
            try:
                record: ArchivedRecord | None = _record(topic, p, offset, msg)
            except PacketError:
                stats.invalid += 1
                record = None
            merge.add(p, offset, record if offset < bounds[p][1] else None)


def _eof_or_stall(msg: Message | None, merge: _Merge, last_seen: float, topic: str) -> None:
    """An empty poll or an error: a partition's end (its last offsets were control records)
    closes it; nothing at all for too long means the broker is gone."""
    error = None if msg is None else msg.error()
    if msg is not None and error is not None and error.code() == RdKafkaError._PARTITION_EOF:
        merge.open.discard(msg.partition() or 0)
        return
    if time.monotonic() - last_seen > _STALL_S:
        raise BrokerUnavailableError(f"reading {topic} from Kafka: no record for {_STALL_S:.0f} s")
