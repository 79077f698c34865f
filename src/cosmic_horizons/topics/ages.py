"""How old a topic's data is: the timestamp of the first record at each partition's log start.

Used before retention is lowered, to say what the change would delete. One record per
partition is read with assigned partitions (no group is joined, nothing is committed).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, TopicPartition

from ..clients import consumer_config
from ..config import KafkaSettings
from ..errors import kafka_errors

__all__ = ["oldest_record_times"]


def oldest_record_times(
    settings: KafkaSettings,
    topic: str,
    partitions: Iterable[int],
    *,
    timeout: float = 10.0,
) -> dict[int, int | None]:
    """Per partition holding records, the timestamp (ms) of its oldest record.

    Empty partitions are left out; a partition whose first record could not be read within
    ``timeout`` seconds, or has no timestamp, maps to None (age unknown).
    """
    consumer = Consumer(
        consumer_config(
            settings,
            "peek",
            group=f"horizons-peek-{uuid.uuid4().hex[:12]}",
            socket_timeout_ms=int(timeout * 1000),
        )
    )
    try:
        starts: dict[int, int] = {}
        for partition in partitions:
            with kafka_errors(
                "ListOffsets",
                f"{topic}[{partition}]",
                client=consumer,
                bootstrap=settings.bootstrap_servers,
            ):
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=timeout
                )
            if high > low:
                starts[partition] = low
        found: dict[int, int | None] = {}
        if not starts:
            return found
        consumer.assign([TopicPartition(topic, p, o) for p, o in starts.items()])
        deadline = time.monotonic() + timeout
        while len(found) < len(starts) and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            at = msg.partition()
            if at is None or at in found or at not in starts:
                continue
            partition = at
            kind, stamp = msg.timestamp()
            found[partition] = stamp if kind != TIMESTAMP_NOT_AVAILABLE and stamp >= 0 else None
            consumer.pause([TopicPartition(topic, partition)])
        for partition in starts:
            found.setdefault(partition, None)
        return dict(sorted(found.items()))
    finally:
        consumer.close()
