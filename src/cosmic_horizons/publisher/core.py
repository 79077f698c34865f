"""The spec's ``MessagingIntegrationService``: one long-lived producer for array packets.

Every packet handed to :meth:`Publisher.publish` ends in exactly one of two states:
delivered (acknowledged by the broker), or failed, counted in the stats and logged with
its reason. When librdkafka's local queue is full, ``publish`` waits (backpressure)
instead of dropping packets or growing without bound. With a spool (``spool=``), a third:
spooled on disk until the broker takes it (:mod:`.forward`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import msgspec
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException, Message, Producer

from ..clients import CLIENT_ID, producer_config
from ..cluster import raise_if_refused
from ..config import KafkaSettings, mask_config
from ..errors import BrokerUnavailableError, ConfigError, PublishError
from ..packet import (
    ENCODINGS,
    Encoding,
    KafkaPayload,
    encode_packet,
    packet_headers,
)
from ..packet_fields import _timestamp_ms_cache
from ..partitioner import PartitionerName
from ..spool import Spool, SpoolSettings
from ..stats import PublisherStats, StatsSnapshot
from .careful import CarefulProducer
from .diagnose import LIBRDKAFKA_LOG
from .encoding import check_chunks, encode_value, encode_values, slice_size
from .forward import Forwarder, SpoolView
from .metadata import LegacyPlacement, read_partition_count, refresh_count, topic_problem
from .models import DeliveryReport, TopicMissingError
from .shutdown import Shutdown
from .watch import ProducerWatch

__all__ = [
    "CLIENT_ID",
    "DeliveryReport",
    "Publisher",
    "TopicMissingError",
    "producer_config",
]

log = logging.getLogger(__name__)
#: A validated timestamp's epoch milliseconds, or None (then ``timestamp_ms()`` computes it;
#: 0 ms, the epoch itself, likewise goes that way).
_stamp_ms = _timestamp_ms_cache.get


class Publisher(Shutdown):
    """A long-lived producer for array packets, keyed by element id.

    ``extra_config`` is merged over :func:`producer_config` (for tuning and tests).
    ``partitioner`` overrides ``settings.partitioner`` (see :mod:`cosmic_horizons.partitioner`).

    The topic must exist: the publisher reads the cluster's topic list (without naming the
    topic, which some brokers take as a request to create it) and raises
    :class:`TopicMissingError` when it is absent, or :class:`BrokerUnavailableError` when no
    broker answers within ``metadata_timeout`` s. ``check_topic=False`` skips that check (to
    start before the broker does); records for a missing topic then fail, they never create it.
    ``kafkajs-legacy`` needs the topic's partition count, so it always checks, and re-reads the
    count every :data:`METADATA_REFRESH_S` s and whenever a partition is unknown.

    ``spool`` makes it a store-and-forward node: every accepted packet is journalled to
    the spool before ``publish`` returns and leaves it on its acknowledgement (see
    :mod:`.forward` and docs/publisher.md, "Store and forward").

    ``encoding`` (default ``settings.encoding``, itself ``json``) is how packets are written:
    the spec's JSON, or ``binary``, the chunk as raw bytes (:mod:`cosmic_horizons.packet_binary`);
    the ``content-type`` header says which. ``publish(packet, chunk)`` takes a chunk's raw
    bytes in either encoding (JSON: base64 into ``data_chunk``).

    The publisher is thread-safe: several threads may call :meth:`publish`.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        topic: str | None = None,
        extra_config: Mapping[str, str | int | float | bool] | None = None,
        partitioner: PartitionerName | None = None,
        check_topic: bool = True,
        metadata_timeout: float = 10.0,
        spool: SpoolSettings | None = None,
        encoding: Encoding | None = None,
    ) -> None:
        self.topic = topic or settings.topic
        self.encoding: Encoding = encoding or settings.encoding
        if self.encoding not in ENCODINGS:
            raise ConfigError(f"encoding {self.encoding!r}: expected {' or '.join(ENCODINGS)}")
        self._binary = self.encoding == "binary"
        #: Spooled records name their headers when they are not the JSON default.
        self._spool_headers: list[tuple[str, str | bytes | None]] | None = (
            list(packet_headers(self.encoding)) if self._binary else None
        )
        if partitioner is not None:
            settings = replace(settings, partitioner=partitioner)
        self.settings = settings
        self.partitioner: PartitionerName = settings.partitioner
        legacy = self.partitioner == "kafkajs-legacy"
        conf: dict[str, Any] = producer_config(settings)
        if spool is not None and not conf.get("enable.idempotence"):
            # The spool promises each element's order. With several requests in flight per
            # partition a retried batch can land behind a later one; idempotence (prod) keeps
            # the order, without it one request in flight per connection does.
            conf["max.in.flight.requests.per.connection"] = 1
        conf.update(extra_config or {})
        log.debug("producer config: %s", mask_config(conf))
        # Only failures come back one by one; deliveries are derived (see PublisherStats).
        conf["delivery.report.only.error"] = spool is None  # the spool needs every ack
        conf["on_delivery"] = self._watch_delivery
        self._watch = ProducerWatch(
            settings, self.topic, acks_all=str(conf.get("acks")) in ("all", "-1")
        )
        conf["error_cb"] = self._watch.on_error
        conf.setdefault("logger", LIBRDKAFKA_LOG)
        self._closed = threading.Event()
        self._headers: list[tuple[str, str | bytes | None]] = list(packet_headers(self.encoding))
        self._started = time.monotonic()
        self._metadata_timeout = metadata_timeout
        self._spool = Spool(spool) if spool is not None else None  # taken first: one per spool
        try:
            self._producer = Producer(conf)
        except KafkaException as exc:
            if self._spool is not None:
                self._spool.close()
            raise ConfigError(f"invalid producer configuration: {exc}") from exc
        self.stats = PublisherStats(pending=self.queued)
        self._watch.stats = self.stats
        self._forward: Forwarder | None = None
        self._interrupt = threading.Event()
        self._partitions = 0
        #: kafkajs-legacy only: each key's partition (cleared when the count changes).
        self._partition_of: dict[str | bytes, int] | None = None
        self._legacy: LegacyPlacement | None = None
        if check_topic or legacy:
            try:
                raise_if_refused(settings)  # nothing listens: say so now, not after the timeout
                self._partitions = self._read_partition_count()
            except BrokerUnavailableError as exc:
                if self._spool is None or legacy:
                    self._abandon()
                    raise
                log.warning("%s: spooling to %s until it answers", exc, self._spool.path)
            except BaseException:
                self._abandon()
                raise
        if legacy:
            self._legacy = LegacyPlacement(self._read_partition_count, self.topic, self._partitions)
            self._partition_of = self._legacy.cache
        self._produce = self._producer.produce
        self._record_sent = self.stats.record_sent_many
        self._closed_flag = False
        self._careful = CarefulProducer(
            self._producer,
            self.topic,
            self._headers,
            self.stats,
            legacy=self._legacy,
            refresh=self.refresh_partitions,
            interrupt=self._interrupt,
        )
        self._careful.on_refusal = self._raise_if_refused
        if self._spool is not None:
            self._forward = Forwarder(
                self._spool,
                producer=self._producer,
                topic=self.topic,
                headers=self._headers,
                partition_for=self._careful.partition_for,
                legacy=self._legacy is not None,
                stats=self.stats,
                probe=self._probe,
                refused=self._watch.note_refused,
            )
            self._interrupt = self._careful.interrupt = self._forward.interrupt
            self._watch.forward = self._forward
        self._poller = threading.Thread(target=self._poll_loop, name="publisher-poll", daemon=True)
        self._poller.start()

    def _abandon(self) -> None:
        """Undo a constructor that failed."""
        self._closed.set()
        self._producer.close()
        if self._spool is not None:
            self._spool.close()

    # -- topic metadata --------------------------------------------------------------------

    def _read_partition_count(self) -> int:
        return read_partition_count(
            self._producer, self.settings, self.topic, self._metadata_timeout
        )

    def refresh_partitions(self) -> int:
        """Re-read the topic's partition count now (kafkajs-legacy also does so by itself);
        on failure the last count is kept (see :class:`.metadata.LegacyPlacement`)."""
        if self._legacy is not None:
            return self._legacy.refresh()
        self._partitions = refresh_count(self._read_partition_count, self.topic, self._partitions)
        return self._partitions

    @property
    def partitions(self) -> int:
        """The topic's partition count as last read (0 when it was not read)."""
        return self._partitions if self._legacy is None else self._legacy.count

    # -- producing -------------------------------------------------------------------------

    def _encode(self, packet: KafkaPayload, chunk: bytes | None) -> bytes:
        """The record value in the publisher's encoding (:func:`.encoding.encode_value`)."""
        return encode_value(packet, chunk, binary=self._binary)

    def _encode_many(
        self, packets: Sequence[KafkaPayload], chunks: Sequence[bytes | None] | None
    ) -> tuple[list[bytes], int]:
        """The values of ``packets`` and their bytes in all (:func:`.encoding.encode_values`)."""
        return encode_values(packets, chunks, binary=self._binary)

    def publish(self, packet: KafkaPayload, chunk: bytes | None = None) -> bool:
        """Queue one packet (``chunk``: its visibility chunk as raw bytes, when ``data_chunk``
        is None); False when it failed at once (counted and logged)."""
        if self._closed_flag or self._watch.refused is not None:
            self._check_open()
        value = (
            encode_packet(packet)
            if chunk is None and not self._binary
            else self._encode(packet, chunk)
        )
        timestamp = _stamp_ms(packet.timestamp) or packet.timestamp_ms()
        key = packet.element_id
        if self._forward is not None:
            record = (key.encode(), value, timestamp, self._spool_headers)
            return self._forward.publish([record], len(value)) == 1
        cache = self._partition_of
        try:
            if cache is None:
                self._produce(self.topic, value, key, timestamp=timestamp, headers=self._headers)
            else:
                partition = cache.get(key)
                if partition is None:
                    partition = self._careful.place(key)
                self._produce(
                    self.topic,
                    value,
                    key,
                    partition=partition,
                    timestamp=timestamp,
                    headers=self._headers,
                )
        except (BufferError, KafkaException):
            return self._careful.produce(key.encode(), value, timestamp, self._headers)
        self._record_sent(1, len(value))
        return True

    def publish_many(
        self, packets: Sequence[KafkaPayload], chunks: Sequence[bytes | None] | None = None
    ) -> int:
        """Queue several packets (one array tick, say); how many were accepted.

        ``chunks``, when given, are the packets' visibility chunks as raw bytes (one per
        packet, None for none). Cheaper per packet than :meth:`publish`: the packets are
        encoded in one pass and counted once.
        """
        self._check_open()
        if not packets:
            return 0
        if chunks is not None and len(chunks) != len(packets):
            raise PublishError(f"{len(chunks)} chunks for {len(packets)} packets")
        step = slice_size(packets, chunks)
        if step >= len(packets):
            return self._publish_slice(packets, chunks)
        if chunks is not None:
            check_chunks(packets, chunks, binary=self._binary)
        return sum(
            self._publish_slice(
                packets[i : i + step], None if chunks is None else chunks[i : i + step]
            )
            for i in range(0, len(packets), step)
        )

    def _publish_slice(
        self, packets: Sequence[KafkaPayload], chunks: Sequence[bytes | None] | None
    ) -> int:
        values, total = self._encode_many(packets, chunks)
        if self._forward is not None:
            spool_headers = self._spool_headers
            return self._forward.publish(
                [
                    (p.element_id.encode(), v, p.timestamp_ms(), spool_headers)
                    for p, v in zip(packets, values, strict=False)
                ],
                total,
            )
        produce, topic, headers = self._produce, self.topic, self._headers
        if self._partition_of is None:
            queued = 0
            stamp: str | None = None
            ms = 0
            for packet, value in zip(packets, values, strict=False):
                if packet.timestamp is not stamp:  # a tick's packets share one timestamp
                    stamp, ms = packet.timestamp, packet.timestamp_ms()
                try:
                    produce(topic, value, packet.element_id, timestamp=ms, headers=headers)
                except (BufferError, KafkaException):
                    break
                queued += 1
            else:
                # Every packet queued: count them once.
                self.stats.record_sent_many(queued, total)
                return queued
            self.stats.record_sent_many(queued, sum(map(len, values[:queued])))
            return queued + self._careful.publish_rest(packets, values, queued)
        return self._careful.publish_rest(packets, values, 0)

    def publish_encoded(
        self,
        key: bytes,
        value: bytes,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> bool:
        """Queue an already-encoded record (used by replay); same accounting as :meth:`publish`."""
        self._check_open()
        if self._forward is not None:
            return (
                self._forward.publish([(key, value, timestamp_ms or 0, headers)], len(value)) == 1
            )
        return self._careful.produce(
            key, value, timestamp_ms or 0, headers if headers is not None else self._headers
        )

    def _raise_if_refused(self, err: RdKafkaError) -> None:
        """produce() said the principal may not write: stop taking packets and raise why."""
        if self._watch.note_refused(err):
            self._stop_refused(self._watch.refused)

    def _check_open(self) -> None:
        """Raise unless packets can be taken: closed, or the principal may not write."""
        if self._watch.refused is not None:
            self._stop_refused(self._watch.refused)
        if self._closed_flag:
            raise PublishError("the publisher is closed")

    @property
    def stalls(self) -> int:
        """Times deliveries stopped for STALL_REPORT_S with packets waiting (each reported)."""
        return self._watch.stalls

    @property
    def backpressure_waits(self) -> int:
        """How many times publish() had to wait for a full local queue."""
        return self._careful.backpressure_waits

    def queued(self) -> int:
        """Packets queued or in flight, not yet acknowledged (with a spool: spooled)."""
        if self._spool is not None:
            return self._spool.records
        return 0 if self._closed.is_set() else len(self._producer)

    def interrupt(self) -> None:
        """Make a publish() blocked on a full queue or spool return now (fewer accepted):
        ``--duration`` and SIGTERM end a run even while publishing cannot go on."""
        self._interrupt.set()

    def spool_view(self) -> SpoolView | None:
        """The spool's records, bytes, oldest age, drain rate; None without a spool."""
        return None if self._forward is None else self._forward.view()

    def _probe(self) -> str | None:
        return topic_problem(self._producer, self.topic)

    def flush(self, timeout: float = 30.0) -> int:
        """Wait until everything queued is delivered or failed; how many are still pending
        (with a spool: until the spool is empty; how many packets it holds)."""
        if self._forward is not None:
            self._forward.wait_acked(timeout)
            return self.queued()
        return int(self._producer.flush(timeout))

    def snapshot(self) -> StatsSnapshot:
        snap = self.stats.snapshot()
        if self._forward is None:
            return snap
        return msgspec.structs.replace(snap, spool=self._forward.stats())

    # -- callbacks -------------------------------------------------------------------------

    def _watch_delivery(self, err: RdKafkaError | None, msg: Message) -> None:
        self._watch.on_delivery(err, msg, None if self._legacy is None else self._legacy.wake)

    def _poll_loop(self) -> None:
        next_sample = time.monotonic()
        progress = (time.monotonic(), -1)  # when the delivered count last changed, and to what
        while not self._closed.is_set():
            self._producer.poll(0.1)
            now = time.monotonic()
            if now >= next_sample:
                self.stats.sample()
                next_sample += 0.5
                waiting = self.queued() if self._forward is None else len(self._producer)
                progress = self._watch.stall(now, progress, waiting)
