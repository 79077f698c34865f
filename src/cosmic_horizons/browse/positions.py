"""Where to start reading: an offset, a time (ListOffsets by timestamp), the start or the end,
and which partition holds an element's records."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

import msgspec
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition
from confluent_kafka import KafkaError as RdKafkaError

from ..clients import consumer_config
from ..cluster import raise_if_refused
from ..config import KafkaSettings
from ..errors import ConfigError, kafka_errors
from ..partitioner import partition_for
from ..publisher import TopicMissingError

__all__ = ["Start", "element_partition", "reader", "start_positions", "topic_partitions"]


class Start(msgspec.Struct, frozen=True, kw_only=True):
    """Where each partition is read from: ``offset`` (negative: that many before the end),
    ``time_ms`` (the first record timed at or after it), else the beginning or the end."""

    offset: int | None = None
    time_ms: int | None = None
    beginning: bool = False

    def __post_init__(self) -> None:
        given = sum((self.offset is not None, self.time_ms is not None, self.beginning))
        if given > 1:
            raise ConfigError("give only one of --offset, --from-time, --from-beginning")


def reader(
    settings: KafkaSettings,
    *,
    timeout: float = 10.0,
    error_cb: Callable[[RdKafkaError], None] | None = None,
) -> Consumer:
    """A consumer for assigned partitions: joins no group, commits nothing. ``error_cb``
    replaces the default one (it should hand errors to ``note_client_error`` too)."""
    extra: dict[str, object] = {"enable.partition.eof": True}
    if error_cb is not None:
        extra["error_cb"] = error_cb
    return Consumer(
        consumer_config(
            settings,
            "peek",
            group=f"horizons-browse-{uuid.uuid4().hex[:12]}",
            socket_timeout_ms=int(timeout * 1000),
            extra=extra,
        )
    )


def topic_partitions(consumer: Consumer, settings: KafkaSettings, topic: str) -> list[int]:
    """The partition ids of ``topic``; :class:`TopicMissingError` when it does not exist
    (all topics are listed: asking for one creates it on brokers that auto-create)."""
    bootstrap = settings.require_bootstrap()
    raise_if_refused(settings)  # nothing listens: say so now, not after the timeout
    with kafka_errors("Metadata", topic, client=consumer, bootstrap=bootstrap):
        metadata = consumer.list_topics(timeout=10.0)
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise TopicMissingError(topic, bootstrap)
    return sorted(found.partitions)


def element_partition(settings: KafkaSettings, element: str, partitions: int) -> int | None:
    """The partition the publisher puts ``element``'s records on (None: any)."""
    return partition_for(settings.partitioner, element.encode(), partitions)


def start_positions(
    consumer: Consumer,
    topic: str,
    partitions: Iterable[int],
    start: Start,
    *,
    bootstrap: str | None = None,
    timeout: float = 10.0,
) -> list[TopicPartition]:
    """The offset to read each partition from, as ``start`` says."""
    parts = list(partitions)
    if start.time_ms is not None:
        with kafka_errors("ListOffsets", topic, client=consumer, bootstrap=bootstrap):
            found = consumer.offsets_for_times(
                [TopicPartition(topic, p, start.time_ms) for p in parts], timeout=timeout
            )
        # -1: no record that late; read from the end.
        return [
            TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END)
            for tp in found
        ]
    if start.offset is None:
        at = OFFSET_BEGINNING if start.beginning else OFFSET_END
        return [TopicPartition(topic, p, at) for p in parts]
    out: list[TopicPartition] = []
    for p in parts:
        with kafka_errors("ListOffsets", f"{topic}[{p}]", client=consumer, bootstrap=bootstrap):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
        wanted = start.offset if start.offset >= 0 else high + start.offset
        out.append(TopicPartition(topic, p, min(max(wanted, low), high)))
    return out
