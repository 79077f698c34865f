"""The spec's ``MessagingIntegrationService``: one long-lived producer for array packets.

Every packet handed to :meth:`Publisher.publish` ends in exactly one of two states:
delivered (acknowledged by the broker), or failed, counted in the stats and logged with
its reason. When librdkafka's local queue is full, ``publish`` waits (backpressure)
instead of dropping packets or growing without bound.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any, Final

import msgspec
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException, Message, Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    ResourceType,
)

from .clients import (
    CLIENT_ID,
    MAX_RETRY_MS,
    producer_config,
)
from .cluster import raise_if_refused
from .config import KafkaSettings, mask_config
from .errors import (
    AuthorizationError,
    BrokerError,
    ConfigError,
    PublishError,
    TopicError,
    classify_security,
    kafka_errors,
    note_client_error,
)
from .packet import KafkaPayload, encode_lines, encode_packet, packet_headers
from .partitioner import PartitionerName, kafkajs_legacy_murmur2
from .stats import PublisherStats, StatsSnapshot
from .topics.models import desired_topic

__all__ = [
    "CLIENT_ID",
    "DeliveryReport",
    "Publisher",
    "TopicMissingError",
    "producer_config",
]

log = logging.getLogger(__name__)

#: How often the ``kafkajs-legacy`` publisher re-reads the topic's partition count.
METADATA_REFRESH_S: Final = 30.0
#: Keys whose partition the ``kafkajs-legacy`` publisher remembers (element keys repeat).
PARTITION_CACHE_MAX: Final = 100_000
#: Errors reported while a broker is still starting (the spec ignores "Metadata" errors).
STARTUP_GRACE_S: Final = 30.0
#: Packets in flight and none delivered for this long: a stall, reported once (librdkafka
#: retries NOT_ENOUGH_REPLICAS and timeouts silently until message.timeout.ms).
STALL_REPORT_S: Final = 5.0
_TRANSIENT_CODES: Final = frozenset(
    {
        RdKafkaError._TRANSPORT,
        RdKafkaError._ALL_BROKERS_DOWN,
        RdKafkaError._RESOLVE,
        RdKafkaError.LEADER_NOT_AVAILABLE,
        RdKafkaError.NOT_LEADER_FOR_PARTITION,
        RdKafkaError.UNKNOWN_TOPIC_OR_PART,
        RdKafkaError.BROKER_NOT_AVAILABLE,
    }
)


class _DebugLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """librdkafka's own log, at debug level: its errors also reach ``error_cb``, classified."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        super().log(logging.DEBUG, msg, *args, **kwargs)


_LIBRDKAFKA_LOG = _DebugLog(logging.getLogger("cosmic_horizons.librdkafka"))


class TopicMissingError(TopicError):
    """The topic to publish to does not exist; project producers never create it."""

    def __init__(self, topic: str, bootstrap: str) -> None:
        super().__init__(
            f"topic {topic!r} does not exist on {bootstrap}; create it with "
            f"`horizons topics ensure --topic {topic}` (publishers never auto-create topics)",
            code="UNKNOWN_TOPIC_OR_PART",
        )
        self.topic = topic


class DeliveryReport(msgspec.Struct, frozen=True, kw_only=True):
    """How a publisher ended: what was delivered, failed, and left undelivered at close."""

    sent: int
    delivered: int
    failed: int
    undelivered_at_close: int
    """Packets still queued when the flush timeout ran out (also counted in ``failed``)."""

    @property
    def complete(self) -> bool:
        return self.failed == 0 and self.delivered == self.sent


class Publisher:
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
    ) -> None:
        self.topic = topic or settings.topic
        if partitioner is not None:
            settings = replace(settings, partitioner=partitioner)
        self.settings = settings
        self.partitioner: PartitionerName = settings.partitioner
        legacy = self.partitioner == "kafkajs-legacy"
        conf: dict[str, Any] = producer_config(settings)
        conf.update(extra_config or {})
        log.debug("producer config: %s", mask_config(conf))
        # Only failures come back one by one; deliveries are derived (see PublisherStats).
        conf["delivery.report.only.error"] = True
        conf["on_delivery"] = self._on_delivery
        conf["error_cb"] = self._on_error
        conf.setdefault("logger", _LIBRDKAFKA_LOG)
        self._closed = threading.Event()
        self._headers: list[tuple[str, str | bytes | None]] = list(packet_headers())
        self._started = time.monotonic()
        self._backpressure_waits = 0
        self._metadata_timeout = metadata_timeout
        self.stalls = 0
        """Times deliveries stopped for STALL_REPORT_S with packets waiting (each reported)."""
        self._stalled_since: float | None = None
        self._acks_all = str(conf.get("acks")) in ("all", "-1")
        try:
            self._producer = Producer(conf)
        except KafkaException as exc:
            raise ConfigError(f"invalid producer configuration: {exc}") from exc
        self.stats = PublisherStats(pending=self.queued)
        #: kafkajs-legacy only: the topic's partition count and each key's partition under it.
        self._partitions = 0
        self._partition_of: dict[str | bytes, int] | None = None
        if check_topic or legacy:
            try:
                raise_if_refused(settings)  # nothing listens: say so now, not after the timeout
                self._partitions = self._read_partition_count()
            except BaseException:
                self._closed.set()
                self._producer.close()
                raise
        if legacy:
            self._partition_of = {}
        self._produce = self._producer.produce
        self._record_sent = self.stats.record_sent
        self._closed_flag = False
        self._refresh = threading.Event()
        self._refresher: threading.Thread | None = None
        self._poller = threading.Thread(target=self._poll_loop, name="publisher-poll", daemon=True)
        self._poller.start()
        if legacy:
            self._refresher = threading.Thread(
                target=self._refresh_loop, name="publisher-metadata", daemon=True
            )
            self._refresher.start()

    # -- topic metadata --------------------------------------------------------------------

    def _read_partition_count(self) -> int:
        """The topic's partition count, from the cluster's full topic list."""
        with kafka_errors("reading topic metadata", self.settings.require_bootstrap()):
            # No topic named: a Metadata request for all topics creates none.
            metadata = self._producer.list_topics(timeout=self._metadata_timeout)
        found = metadata.topics.get(self.topic)
        if found is None and self.settings.security_protocol != "PLAINTEXT":
            # A secured cluster leaves out of the full list the topics this principal may not
            # describe: ask for this one by name (auto-creation is off) to tell them apart.
            with contextlib.suppress(KafkaException):
                found = self._producer.list_topics(
                    self.topic, timeout=self._metadata_timeout
                ).topics.get(self.topic)
            refused = (
                None
                if found is None
                else classify_security(
                    found.error.code() if found.error is not None else None,
                    found.error.str() if found.error is not None else "",
                )
            )
            if isinstance(refused, AuthorizationError):
                raise refused.at(f"publishing to {self.topic}")
        if found is None or found.error is not None or not found.partitions:
            raise TopicMissingError(self.topic, self.settings.require_bootstrap())
        return len(found.partitions)

    def refresh_partitions(self) -> int:
        """Re-read the topic's partition count now (kafkajs-legacy also does so by itself).

        A new count starts a new key cache. The count read is returned; on failure (broker
        briefly away, topic deleted) a warning is logged and the last count is kept.
        """
        try:
            count = self._read_partition_count()
        except BrokerError as exc:
            log.warning("partition count of %s not refreshed: %s", self.topic, exc)
            return self._partitions
        if count != self._partitions:
            log.info("%s now has %d partitions (was %d)", self.topic, count, self._partitions)
            self._partitions = count
            if self._partition_of is not None:
                self._partition_of = {}
        return count

    def _refresh_loop(self) -> None:
        while not self._closed.is_set():
            self._refresh.wait(METADATA_REFRESH_S)
            self._refresh.clear()
            if self._closed.is_set():
                return
            self.refresh_partitions()

    @property
    def partitions(self) -> int:
        """The topic's partition count as last read (0 when it was not read)."""
        return self._partitions

    def _place(self, key: str | bytes) -> int:
        """kafkajs-legacy: the partition of ``key``, computed once per key and count."""
        cache = self._partition_of
        assert cache is not None
        raw = key.encode() if isinstance(key, str) else key
        partition = (kafkajs_legacy_murmur2(raw) & 0x7FFFFFFF) % self._partitions
        if len(cache) >= PARTITION_CACHE_MAX:
            cache.clear()
        cache[key] = partition
        return partition

    # -- producing -------------------------------------------------------------------------

    def publish(self, packet: KafkaPayload) -> bool:
        """Queue one packet; False when it failed at once (counted and logged)."""
        if self._closed_flag:
            raise PublishError("the publisher is closed")
        value = encode_packet(packet)
        timestamp = packet.timestamp_ms()
        key = packet.element_id
        cache = self._partition_of
        try:
            if cache is None:
                self._produce(self.topic, value, key, timestamp=timestamp, headers=self._headers)
            else:
                partition = cache.get(key)
                if partition is None:
                    partition = self._place(key)
                self._produce(
                    self.topic,
                    value,
                    key,
                    partition=partition,
                    timestamp=timestamp,
                    headers=self._headers,
                )
        except (BufferError, KafkaException):
            return self._produce_slowly(key.encode(), value, timestamp, self._headers)
        self._record_sent(len(value))
        return True

    def publish_many(self, packets: Sequence[KafkaPayload]) -> int:
        """Queue several packets (one array tick, say); how many were accepted.

        Cheaper per packet than :meth:`publish`: the packets are encoded in one call and
        counted once.
        """
        if self._closed_flag:
            raise PublishError("the publisher is closed")
        if not packets:
            return 0
        # One JSON document per line; JSON strings never hold a raw newline.
        blob = encode_lines(packets)
        values = blob.split(b"\n")
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
                # Every packet queued: count them once (the blob less its newlines).
                self.stats.record_sent_many(queued, len(blob) - queued)
                return queued
            self.stats.record_sent_many(queued, sum(map(len, values[:queued])))
            return queued + self._publish_rest(packets, values, queued)
        return self._publish_rest(packets, values, 0)

    def _publish_rest(
        self, packets: Sequence[KafkaPayload], values: list[bytes], start: int
    ) -> int:
        """publish_many's careful loop: kafkajs-legacy placement, backpressure, refusals."""
        produce, topic, headers = self._produce, self.topic, self._headers
        cache = self._partition_of
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
                        partition = self._place(key)
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
                accepted += self._produce_slowly(
                    key.encode(), value, packet.timestamp_ms(), headers
                )
                cache = self._partition_of
                continue
            accepted += 1
            uncounted += 1
            nbytes += len(value)
        self.stats.record_sent_many(uncounted, nbytes)
        return accepted

    def publish_encoded(
        self,
        key: bytes,
        value: bytes,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> bool:
        """Queue an already-encoded record (used by replay); same accounting as :meth:`publish`."""
        if self._closed_flag:
            raise PublishError("the publisher is closed")
        return self._produce_slowly(
            key, value, timestamp_ms or 0, headers if headers is not None else self._headers
        )

    def _partition_for(self, key: bytes | None) -> int:
        """The partition to name in produce(): -1 (librdkafka's partitioner) unless legacy."""
        cache = self._partition_of
        if cache is None or key is None:
            return -1
        partition = cache.get(key)
        return self._place(key) if partition is None else partition

    def _produce_slowly(
        self,
        key: bytes,
        value: bytes,
        timestamp_ms: int,
        headers: list[tuple[str, str | bytes | None]],
    ) -> bool:
        """Produce, waiting while the local queue is full; count a refusal as a failure."""
        refreshed = False
        while True:
            try:
                self._produce(
                    self.topic,
                    value,
                    key,
                    partition=self._partition_for(key),
                    timestamp=timestamp_ms,
                    headers=headers,
                )
            except BufferError:
                # Local queue full: wait for deliveries to make room (backpressure).
                self._backpressure_waits += 1
                self._producer.poll(0.01)
                continue
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if (
                    isinstance(err, RdKafkaError)
                    and err.code() == RdKafkaError._UNKNOWN_PARTITION
                    and self._partition_of is not None
                    and not refreshed
                ):
                    # The partition count changed under us: read it again, place again.
                    refreshed = True
                    self.refresh_partitions()
                    continue
                reason = f"{err.name()}: {err.str()}" if isinstance(err, RdKafkaError) else str(exc)
                self.stats.record_sent(len(value))
                self.stats.record_failed(reason)
                log.error("packet for key %r not queued: %s", key, reason)
                return False
            self.stats.record_sent(len(value))
            return True

    @property
    def backpressure_waits(self) -> int:
        """How many times publish() had to wait for a full local queue."""
        return self._backpressure_waits

    def queued(self) -> int:
        """Packets queued or in flight, not yet acknowledged."""
        return 0 if self._closed.is_set() else len(self._producer)

    def flush(self, timeout: float = 30.0) -> int:
        """Wait until everything queued is delivered or failed; how many are still pending."""
        return int(self._producer.flush(timeout))

    def snapshot(self) -> StatsSnapshot:
        return self.stats.snapshot()

    # -- callbacks -------------------------------------------------------------------------

    def _on_delivery(self, err: RdKafkaError | None, msg: Message) -> None:
        if err is None:  # not reported with delivery.report.only.error, unless overridden
            return
        if err.code() == RdKafkaError._UNKNOWN_PARTITION and self._refresher is not None:
            self._refresh.set()
        reason = f"{err.name()}: {err.str()}"
        self.stats.record_failed(reason)
        log.error("packet for key %r to %s not delivered: %s", msg.key(), msg.topic(), reason)

    def _on_error(self, err: RdKafkaError) -> None:
        # A SASL/TLS failure explains the transport errors that follow it.
        note_client_error(err, self.settings.bootstrap_servers)
        starting = (
            time.monotonic() - self._started < STARTUP_GRACE_S and self.stats.delivered() == 0
        )
        if err.code() in _TRANSIENT_CODES and starting and not err.fatal():
            log.debug("broker not ready yet (%s: %s)", err.name(), err.str())
            return
        reason = f"{err.name()}: {err.str()}"
        self.stats.record_error(reason)
        if err.fatal():
            log.critical("fatal producer error: %s", reason)
        elif err.code() in _TRANSIENT_CODES:
            log.warning("producer: %s (librdkafka keeps retrying)", reason)
        else:
            log.error("producer error: %s", reason)

    def _poll_loop(self) -> None:
        next_sample = time.monotonic()
        progress = (time.monotonic(), -1)  # when the delivered count last changed, and to what
        while not self._closed.is_set():
            self._producer.poll(0.1)
            now = time.monotonic()
            if now >= next_sample:
                self.stats.sample()
                next_sample += 0.5
                progress = self._watch_stall(now, progress)

    def _watch_stall(self, now: float, progress: tuple[float, int]) -> tuple[float, int]:
        """Report, in one line and in the stats, deliveries stopped with packets waiting."""
        delivered, waiting = self.stats.delivered(), self.queued()
        if delivered != progress[1] or waiting == 0:
            if self._stalled_since is not None:
                log.warning("deliveries resumed after %.1f s stalled", now - self._stalled_since)
                self._stalled_since = None
            return now, delivered
        stalled_for = now - progress[0]
        if self._stalled_since is None and stalled_for >= STALL_REPORT_S:
            why = self._why_stalled()
            if why is None and stalled_for < 3 * STALL_REPORT_S:
                return progress  # metadata did not answer: ask again on the next tick
            self._stalled_since = progress[0]
            self.stalls += 1
            reason = (
                f"STALLED: no delivery to {self.topic} for {stalled_for:.0f} s, "
                f"{waiting} packets waiting (librdkafka keeps retrying); "
                f"{why or 'topic metadata unavailable'}"
            )
            self.stats.record_error(reason)
            log.error("producer: %s", reason)
        return progress

    def _why_stalled(self) -> str | None:
        """What the cluster says about a stall (leaderless partitions, too few in-sync
        replicas for acks=all); None when it does not answer. A client of its own: the
        producer's connections are busy retrying."""
        admin = AdminClient({**self.settings.client_config(CLIENT_ID), "log_level": 0})
        try:
            # Every topic, none named: a Metadata request naming a missing topic creates it.
            topic = admin.list_topics(timeout=3.0).topics[self.topic]
        except (KafkaException, KeyError):
            return None
        min_isr = int(desired_topic(self.settings.profile).configs.get("min.insync.replicas", 1))
        with contextlib.suppress(KafkaException, KeyError, ValueError, TimeoutError):
            resource = ConfigResource(ResourceType.TOPIC, self.topic)
            [future] = admin.describe_configs([resource], request_timeout=3.0).values()
            min_isr = int(future.result(4.0)["min.insync.replicas"].value)
        leaderless = sorted(p for p, m in topic.partitions.items() if m.leader < 0)
        short = sorted(p for p, m in topic.partitions.items() if len(m.isrs) < min_isr)
        parts = []
        if leaderless:
            parts.append(f"partitions {leaderless} have no leader")
        if short and self._acks_all:
            isr = {p: sorted(topic.partitions[p].isrs) for p in short}
            parts.append(
                f"partitions {short} have fewer in-sync replicas {isr} than "
                f"min.insync.replicas={min_isr}: the brokers refuse acks=all writes "
                "(NOT_ENOUGH_REPLICAS)"
            )
        return "; ".join(parts) or (
            "every partition has a leader and enough in-sync replicas: waiting for "
            f"acknowledgements or for the retry backoff (up to {MAX_RETRY_MS // 1000} s)"
        )

    # -- shutdown --------------------------------------------------------------------------

    def close(self, timeout: float = 30.0) -> DeliveryReport:
        """Flush for up to ``timeout`` s; what is still queued then is purged and counted failed."""
        if self._closed.is_set():
            return self._report(0)
        self._closed_flag = True
        remaining = self.flush(timeout)
        if remaining:
            log.error(
                "%d packets not delivered within %.0f s of shutdown; counting them failed",
                remaining,
                timeout,
            )
            self._producer.purge(in_queue=True, in_flight=True, blocking=False)
            self._producer.flush(5.0)  # serves the purge delivery reports
        self._closed.set()
        self._refresh.set()
        self._poller.join(5.0)
        if self._refresher is not None:
            self._refresher.join(self._metadata_timeout + 5.0)
        self._producer.close()
        return self._report(remaining)

    def _report(self, undelivered: int) -> DeliveryReport:
        snap = self.stats.snapshot()
        return DeliveryReport(
            sent=snap.sent,
            delivered=snap.delivered,
            failed=snap.failed,
            undelivered_at_close=undelivered,
        )

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
