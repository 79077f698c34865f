"""What the publisher reads of the topic: its partition count, and whether it is ready."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from confluent_kafka import KafkaException, Producer

from ..config import KafkaSettings
from ..errors import AuthorizationError, BrokerError, classify_security, kafka_errors
from ..partitioner import kafkajs_legacy_murmur2
from .models import TopicMissingError

__all__ = [
    "METADATA_REFRESH_S",
    "PARTITION_CACHE_MAX",
    "LegacyPlacement",
    "read_partition_count",
    "refresh_count",
    "topic_problem",
]

log = logging.getLogger("cosmic_horizons.publisher.core")

#: How often the ``kafkajs-legacy`` publisher re-reads the topic's partition count.
METADATA_REFRESH_S: Final = 30.0
#: Keys whose partition the ``kafkajs-legacy`` publisher remembers (element keys repeat).
PARTITION_CACHE_MAX: Final = 100_000


#: How often, and how far apart, the full topic list is read again before a topic counts as
#: missing: metadata of a new topic reaches every broker of a cluster within moments.
_MISSING_TRIES = 4
_MISSING_RETRY_S = 0.5


def read_partition_count(
    producer: Producer, settings: KafkaSettings, topic: str, timeout: float
) -> int:
    """The topic's partition count, from the cluster's full topic list."""
    found = None
    for attempt in range(_MISSING_TRIES):
        if attempt:
            # A topic created a moment ago may not be known yet to the broker that answered.
            time.sleep(_MISSING_RETRY_S)
        with kafka_errors("reading topic metadata", settings.require_bootstrap()):
            # No topic named: a Metadata request for all topics creates none.
            metadata = producer.list_topics(timeout=timeout)
        found = metadata.topics.get(topic)
        if found is not None:
            break
    if found is None and settings.security_protocol != "PLAINTEXT":
        # A secured cluster leaves out of the full list the topics this principal may not
        # describe: ask for this one by name (auto-creation is off) to tell them apart.
        with contextlib.suppress(KafkaException):
            found = producer.list_topics(topic, timeout=timeout).topics.get(topic)
        refused = (
            None
            if found is None
            else classify_security(
                found.error.code() if found.error is not None else None,
                found.error.str() if found.error is not None else "",
            )
        )
        if isinstance(refused, AuthorizationError):
            raise refused.at(f"publishing to {topic}")
    if found is None or found.error is not None or not found.partitions:
        raise TopicMissingError(topic, settings.require_bootstrap())
    return len(found.partitions)


def topic_problem(producer: Producer, topic_name: str) -> str | None:
    """None when the topic answers with a leader for every partition, else why not."""
    try:
        topic = producer.list_topics(timeout=2.0).topics.get(topic_name)
    except KafkaException as exc:
        return str(exc)
    if topic is None or topic.error is not None or not topic.partitions:
        return f"topic {topic_name} not found"
    if any(p.leader < 0 for p in topic.partitions.values()):
        return "a partition has no leader"
    return None


def refresh_count(read: Callable[[], int], topic: str, old: int) -> int:
    """The partition count read again; on failure (broker briefly away, topic deleted) a
    warning is logged and ``old`` is kept."""
    try:
        count = read()
    except BrokerError as exc:
        log.warning("partition count of %s not refreshed: %s", topic, exc)
        return old
    if count != old:
        log.info("%s now has %d partitions (was %d)", topic, count, old)
    return count


class LegacyPlacement:
    """kafkajs-legacy: the topic's partition count and each key's partition under it; the
    count is re-read every :data:`METADATA_REFRESH_S` s and when :attr:`wake` is set (a
    partition was unknown). A new count starts a new key cache."""

    def __init__(self, read: Callable[[], int], topic: str, count: int) -> None:
        self.cache: dict[str | bytes, int] = {}
        self.count = count
        self.wake = threading.Event()
        self._read = read
        self._topic = topic
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="publisher-metadata", daemon=True)
        self._thread.start()

    def place(self, key: str | bytes) -> int:
        raw = key.encode() if isinstance(key, str) else key
        partition = (kafkajs_legacy_murmur2(raw) & 0x7FFFFFFF) % self.count
        if len(self.cache) >= PARTITION_CACHE_MAX:
            self.cache.clear()
        self.cache[key] = partition
        return partition

    def refresh(self) -> int:
        count = refresh_count(self._read, self._topic, self.count)
        if count != self.count:
            self.count = count
            self.cache.clear()
        return count

    def _loop(self) -> None:
        while not self._closed.is_set():
            self.wake.wait(METADATA_REFRESH_S)
            self.wake.clear()
            if self._closed.is_set():
                return
            self.refresh()

    def close(self, timeout: float) -> None:
        self._closed.set()
        self.wake.set()
        self._thread.join(timeout)
