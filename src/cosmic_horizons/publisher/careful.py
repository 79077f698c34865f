"""The publisher's careful path (no spool): kafkajs-legacy placement, waiting on a full
local queue (backpressure), a refused record counted failed; the fast loops in :mod:`.core`
fall back to it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException, Producer

from ..packet import KafkaPayload
from ..spool.records import Headers
from ..stats import PublisherStats
from .metadata import LegacyPlacement

__all__ = ["CarefulProducer"]

log = logging.getLogger("cosmic_horizons.publisher.core")


class CarefulProducer:
    """Produces one record at a time, patiently, for :class:`.core.Publisher`."""

    def __init__(
        self,
        producer: Producer,
        topic: str,
        headers: Headers,
        stats: PublisherStats,
        *,
        legacy: LegacyPlacement | None,
        refresh: Callable[[], int],
        interrupt: threading.Event,
    ) -> None:
        self._producer = producer
        self._produce = producer.produce
        self.topic = topic
        self._headers = headers
        self.stats = stats
        self._legacy = legacy
        self._refresh = refresh
        self.interrupt = interrupt
        self.backpressure_waits = 0
        """How many times a record waited for a full local queue."""
        self.on_refusal: Callable[[RdKafkaError], None] = lambda _err: None
        """Called with an error produce() raised at once (it raises when the principal may
        not write)."""

    def place(self, key: str | bytes) -> int:
        """kafkajs-legacy: the partition of ``key``, computed once per key and count."""
        if self._legacy is None:
            raise RuntimeError("placement without kafkajs-legacy")
        return self._legacy.place(key)

    def partition_for(self, key: bytes | None) -> int:
        """The partition to name in produce(): -1 (librdkafka's partitioner) unless legacy."""
        if self._legacy is None or key is None:
            return -1
        partition = self._legacy.cache.get(key)
        return self._legacy.place(key) if partition is None else partition

    def publish_rest(self, packets: Sequence[KafkaPayload], values: list[bytes], start: int) -> int:
        """publish_many's careful loop from ``start`` on; how many were accepted."""
        produce, topic, headers = self._produce, self.topic, self._headers
        cache = None if self._legacy is None else self._legacy.cache
        accepted = uncounted = nbytes = 0  # uncounted, nbytes: queued, not yet in the stats
        for i in range(start, len(packets)):
            packet, value = packets[i], values[i]
            key = packet.element_id
            try:
                if cache is None:
                    produce(topic, value, key, timestamp=packet.timestamp_ms(), headers=headers)
                else:
                    partition = cache.get(key)
                    if partition is None:
                        partition = self.place(key)
                    produce(
                        topic,
                        value,
                        key,
                        partition=partition,
                        timestamp=packet.timestamp_ms(),
                        headers=headers,
                    )
            except (BufferError, KafkaException):
                self.stats.record_sent_many(uncounted, nbytes)
                uncounted = nbytes = 0
                accepted += self.produce(key.encode(), value, packet.timestamp_ms(), headers)
                continue
            accepted += 1
            uncounted += 1
            nbytes += len(value)
        self.stats.record_sent_many(uncounted, nbytes)
        return accepted

    def produce(self, key: bytes, value: bytes, timestamp_ms: int, headers: Headers) -> bool:
        """Produce, waiting while the local queue is full; count a refusal as a failure."""
        refreshed = False
        while True:
            try:
                self._produce(
                    self.topic,
                    value,
                    key,
                    partition=self.partition_for(key),
                    timestamp=timestamp_ms,
                    headers=headers,
                )
            except BufferError:
                # Local queue full: wait for deliveries to make room (backpressure).
                if self.interrupt.is_set():
                    return False  # interrupt(): not accepted, not failed
                self.backpressure_waits += 1
                self._producer.poll(0.01)
                continue
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if (
                    isinstance(err, RdKafkaError)
                    and err.code() == RdKafkaError._UNKNOWN_PARTITION
                    and self._legacy is not None
                    and not refreshed
                ):
                    # The partition count changed under us: read it again, place again.
                    refreshed = True
                    self._refresh()
                    continue
                if isinstance(err, RdKafkaError):
                    self.on_refusal(err)
                reason = f"{err.name()}: {err.str()}" if isinstance(err, RdKafkaError) else str(exc)
                self.stats.record_sent(len(value))
                self.stats.record_failed(reason)
                log.error("packet for key %r not queued: %s", key, reason)
                return False
            self.stats.record_sent(len(value))
            return True
