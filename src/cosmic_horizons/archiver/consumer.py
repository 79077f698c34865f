"""The archiver's Kafka consumer: consumed batches cut into record ranges (its settings are
:func:`cosmic_horizons.clients.consumer_config`, role ``archiver``)."""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter

from confluent_kafka import KafkaError, Message

from .records import RecordRange

try:  # the usual batch gathered in one pass, where the C extension is built
    from . import _columns
except ImportError:  # pragma: no cover - a build without a C compiler
    _columns = None  # type: ignore[assignment]

__all__ = ["batch_records", "records_of", "split_batch"]

#: A run of one partition's records, or an error event: (partition, messages, error, records).
Run = tuple[int | None, list[Message], KafkaError | None, RecordRange | None]

# Message accessors for map(): a bound-method lookup per record costs as much as the call.
_error = Message.error
_partition = Message.partition
_offset = Message.offset
_timestamp = Message.timestamp
_key = Message.key
_value = Message.value
_second = itemgetter(1)


def split_batch(
    msgs: list[Message],
) -> Iterator[tuple[int | None, list[Message], KafkaError | None]]:
    """A consumed batch as runs of one partition's records, in order, and the error events
    (end of partition, broker errors) between them, each as ``(partition, [event], error)``.
    """
    errors = list(map(_error, msgs))
    if any(e is not None for e in errors):
        start = 0
        for i, err in enumerate(errors):
            if err is not None:
                if i > start:
                    yield from _runs(msgs[start:i])
                yield msgs[i].partition(), [msgs[i]], err
                start = i + 1
        if start < len(msgs):
            yield from _runs(msgs[start:])
    else:
        yield from _runs(msgs)


def _runs(msgs: list[Message]) -> Iterator[tuple[int | None, list[Message], None]]:
    partitions = list(map(_partition, msgs))
    first = partitions[0]
    if partitions.count(first) == len(partitions):
        yield first, msgs, None
        return
    start = 0
    for i in range(1, len(msgs) + 1):
        if i == len(msgs) or partitions[i] != partitions[start]:
            yield partitions[start], msgs[start:i], None
            start = i


def records_of(
    topic: str, partition: int, msgs: list[Message], topic_id: str | None
) -> RecordRange:
    """One partition's consumed records (a record without a timestamp counts as the epoch)."""
    stamps: list[int] = list(map(_second, map(_timestamp, msgs)))
    if min(stamps) < 0:
        stamps = [max(t, 0) for t in stamps]
    return RecordRange(
        topic,
        partition,
        list(map(_offset, msgs)),  # type: ignore[arg-type]
        stamps,
        list(map(_key, msgs)),
        list(map(_value, msgs)),
        topic_id,
    )


def batch_records(topic: str, msgs: list[Message], topic_id: str | None) -> Iterator[Run]:
    """:func:`split_batch` with each run's :func:`records_of` (None for an error event).

    The usual batch (one partition, no error event) is gathered in C in one pass; any other
    takes the Python path, with the same result.
    """
    if _columns is not None and msgs:
        got = _columns.gather(msgs)
        if got is not None:
            partition, offsets, stamps, keys, values = got
            yield (
                partition,
                msgs,
                None,
                RecordRange(topic, partition, offsets, stamps, keys, values, topic_id),
            )
            return
    for part, run, err in split_batch(msgs):
        if err is not None or part is None:
            yield part, run, err, None
        else:
            yield part, run, None, records_of(topic, part, run, topic_id)
