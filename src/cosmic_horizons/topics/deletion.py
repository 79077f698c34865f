"""Deleting a topic (``horizons topics delete``): what of its data the archive does not hold,
and DeleteTopics itself.

What would be lost is read as ``topics trim --archived`` reads it: per partition, the records
from the highest offset up to which the archive is contiguous from the log start, to the high
watermark (:func:`~cosmic_horizons.archiver.trim.plan_trim`).
"""

from __future__ import annotations

import concurrent.futures
import time

import msgspec

from ..archiver.storage import ArchiveStorage
from ..archiver.trim import check_same_topic, footer_check, partition_offsets, plan_trim
from ..cluster import make_admin
from ..config import KafkaSettings
from ..errors import BrokerUnavailableError, TopicError, kafka_errors

__all__ = ["Unarchived", "delete_topic", "unarchived_records"]


class Unarchived(msgspec.Struct, frozen=True, kw_only=True):
    """Per partition, the records a delete would lose: ``[first, high watermark)``."""

    topic: str
    records: int
    partitions: dict[int, tuple[int, int]]
    """``{partition: (first unarchived offset, high watermark)}`` of partitions with some."""
    storage: str


def unarchived_records(settings: KafkaSettings, storage: ArchiveStorage, topic: str) -> Unarchived:
    """What of ``topic``'s live records ``storage`` does not hold (contiguously from each
    partition's log start). Raises what the trim raises for another incarnation's archive."""
    log_start, high = partition_offsets(settings, topic)
    files = storage.list_files(topic) if any(high[p] > log_start[p] for p in high) else []
    topic_id = check_same_topic(settings, storage, topic, files) if files else None
    plan = plan_trim(topic, files, log_start, high, check=footer_check(storage, topic_id))
    lost = {
        p.partition: (p.new_log_start, p.high_watermark)
        for p in plan.partitions
        if p.high_watermark > p.new_log_start
    }
    return Unarchived(
        topic=topic,
        records=sum(h - f for f, h in lost.values()),
        partitions=lost,
        storage=storage.url,
    )


def delete_topic(settings: KafkaSettings, topic: str, *, timeout: float = 10.0) -> None:
    """DeleteTopics, then wait until the metadata no longer lists ``topic``."""
    admin = make_admin(settings, timeout_ms=int(timeout * 1000))
    bootstrap = settings.bootstrap_servers
    futures = admin.delete_topics([topic], operation_timeout=timeout, request_timeout=timeout)
    with kafka_errors(
        "DeleteTopics", topic, client=admin, bootstrap=bootstrap, error_type=TopicError
    ):
        try:
            futures[topic].result(timeout=timeout + 5)
        except concurrent.futures.TimeoutError as exc:
            raise BrokerUnavailableError(
                f"DeleteTopics on {topic}: no answer within {timeout + 5:.0f} s"
            ) from exc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with kafka_errors("Metadata", topic, client=admin, bootstrap=bootstrap):
            if topic not in admin.list_topics(timeout=timeout).topics:
                return
        time.sleep(0.2)
    raise TopicError(f"DeleteTopics on {topic}: still listed {timeout:.0f} s after the delete")
