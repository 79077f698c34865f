"""The monitor: one long-lived admin connection polled for the topic snapshot and group lag.

The spec's ``MessagingMonitorService.pollKafka`` connected and disconnected an admin client on
every poll. Here one admin client lives as long as the monitor; every request has a bounded
timeout, so a broker that goes away costs one timeout per poll and yields ``connected: false``,
and librdkafka reconnects by itself when the broker returns.

On the embedded broker only (told by the cluster id
:class:`~cosmic_horizons.broker.EmbeddedBroker` gives it), the reported high watermarks are
made exact by :class:`~cosmic_horizons.monitor.ends.EndReader`. Apache Kafka's watermark is
exact and is used as reported, with no extra request.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec
from confluent_kafka import (
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

# confluent_kafka.admin re-exports these without __all__; their own modules satisfy mypy.
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._listoffsets import OffsetSpec
from confluent_kafka.admin._resource import ResourceType

from ..broker import is_embedded_cluster_id
from ..clients import admin_config
from ..cluster import BrokerInfo, is_kraft, make_admin
from ..config import KafkaSettings
from ..errors import (
    BrokerUnavailableError,
    ConfigError,
    HorizonsError,
    SecurityError,
    from_kafka_error,
)
from ..topics.summary import summarize_topic
from .burrow import OffsetSample, WatermarkHistory, group_lag
from .connection import CONNECTION_CODES, connection_reason, describe_failure, is_unreachable
from .ends import EndReader
from .groups import committed_offsets, describe_groups
from .lag import partition_lag
from .models import GroupLag, KafkaSnapshot
from .snapshot import partition_details, retention_of

__all__ = ["Monitor", "connection_reason"]


_TP = tuple[str, int]
_LATEST: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]  # untyped upstream
_EARLIEST: OffsetSpec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]  # untyped upstream
#: Seconds :meth:`Monitor.close` waits for a call in flight before leaving the release to it.
CLOSE_WAIT_S = 1.0


class Monitor:
    """Polls one topic's health and every consumer group's lag over one admin connection.

    :meth:`poll` never raises. :meth:`lag` and :meth:`groups` raise
    :class:`~cosmic_horizons.errors.BrokerUnavailableError` when the cluster does not answer.
    Each group's partitions keep a sliding window of ``window`` offset samples across calls,
    judged with Burrow's rules; a thread may call :meth:`poll` while another calls :meth:`lag`.
    Calls to :meth:`lag` closer than ``min_sample_interval`` seconds are answered from a fresh
    sample but add none to the window, so frequent callers do not shrink the window's span.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        topic: str | None = None,
        *,
        timeout: float = 5.0,
        window: int = 10,
        min_sample_interval: float = 1.0,
    ) -> None:
        if window < 2:
            raise ConfigError(f"window={window}: Burrow's rules need at least 2 samples")
        if timeout <= 0:
            raise ConfigError(f"timeout={timeout}: must be positive")
        self.settings = settings
        self.topic = topic or settings.topic
        self.timeout = timeout
        self.window = window
        self.min_sample_interval = min_sample_interval
        self._bootstrap = settings.require_bootstrap()
        self._connection_error: str | None = None  # the last one librdkafka reported
        self._admin: AdminClient | None = self._make_admin()
        self._lock = threading.Lock()
        #: close() came while a call held the lock: that call releases the clients as it ends.
        self._close_pending = False
        self._windows: dict[tuple[str, str, int], deque[OffsetSample]] = {}
        self._history: dict[_TP, WatermarkHistory] = {}
        #: True once the cluster answered with the embedded broker's cluster id.
        self.embedded = False
        self._end_reader: EndReader | None = None  # made once the broker is the embedded one
        self._kraft: bool | None = None  # KRaft names a random broker as controller: hide it
        self._group_admin: AdminClient | None = None

    # -- helpers ---------------------------------------------------------------------------

    def _make_admin(self) -> AdminClient:
        # cluster.make_admin's settings, plus an error callback that says why a broker cannot
        # be reached (refused, unresolvable...): the request's own error only says "transport".
        timeout_ms = int(self.timeout * 1000)
        conf = admin_config(self.settings, timeout_ms=timeout_ms, role="monitor")
        self._shared_error_cb: Callable[[KafkaError], None] = conf["error_cb"]  # notes SASL/TLS
        conf["error_cb"] = self._on_client_error
        return AdminClient(conf)

    def _on_client_error(self, err: KafkaError) -> None:
        self._shared_error_cb(err)
        if err.code() in CONNECTION_CODES:
            self._connection_error = err.str()

    def _unreachable(self) -> str:
        """``broker unreachable at HOST:PORT (connection refused)``: one line, for people."""
        if self._admin is not None:
            self._admin.poll(0)  # serve the error callbacks queued during the failed request
        reason = (
            connection_reason(self._connection_error)
            if self._connection_error
            else f"no answer in {self.timeout:g} s"
        )
        return f"broker unreachable at {self._bootstrap} ({reason})"

    def _failure(self, exc: BaseException, operation: str, *, hint: bool = True) -> HorizonsError:
        """``exc`` of ``operation`` in this package's tree: a SASL/TLS failure as such, an
        unreachable broker as one line naming the address and why."""
        if isinstance(exc, KafkaException):
            err = from_kafka_error(
                exc,
                operation=operation,
                target=self._bootstrap,
                client=self._admin,  # serves its queued SASL/TLS failure reports
                bootstrap=self._bootstrap,
            )
            if isinstance(err, SecurityError) or not is_unreachable(exc):
                return err
        if is_unreachable(exc):
            where = (
                "; check --bootstrap / KAFKA_BOOTSTRAP_SERVERS and that the broker is running"
                if hint
                else ""
            )
            return BrokerUnavailableError(f"{self._unreachable()}{where}")
        return HorizonsError(describe_failure(exc, operation, self._bootstrap))

    def _connected(self) -> None:
        self._connection_error = None

    def _client(self) -> AdminClient:
        if self._admin is None:
            raise HorizonsError("the monitor is closed")
        return self._admin

    def _group_client(self) -> AdminClient:
        """The client of this call's group requests (ListGroups, DescribeGroups, OffsetFetch).

        A new one per :meth:`lag` or :meth:`groups` call, dropped after it: on a long-lived
        client, a group request that timed out against a coordinator that had died made
        librdkafka abort the whole process later (``rd_kafka_enq_once_del_source_return:
        Assertion `eonce->refcnt > 0'``, librdkafka issue #4605), seen with a node SIGKILLed
        under ``horizons serve``.
        """
        self._client()  # raises when the monitor is closed
        if self._group_admin is None:
            self._group_admin = make_admin(self.settings, timeout_ms=int(self.timeout * 1000))
        return self._group_admin

    def _wait(self, future: concurrent.futures.Future[Any]) -> Any:
        return future.result(timeout=self.timeout + 1.0)

    def _record_watermarks(self, latest: dict[_TP, int], at: float) -> None:
        """Each high watermark into its partition's history (for lag in seconds)."""
        for tp, high_watermark in latest.items():
            self._history.setdefault(tp, WatermarkHistory()).add(at, high_watermark)

    def _watermarks(
        self, partitions: Iterable[_TP], spec: OffsetSpec
    ) -> tuple[dict[_TP, int], dict[_TP, str]]:
        """Offsets of ``partitions`` at ``spec`` (earliest or latest); errors per partition."""
        tps = sorted(set(partitions))
        if not tps:
            return {}, {}
        futures = self._client().list_offsets(
            {TopicPartition(t, p): spec for t, p in tps}, request_timeout=self.timeout
        )
        offsets: dict[_TP, int] = {}
        errors: dict[_TP, str] = {}
        for tp, future in futures.items():
            key = (tp.topic, tp.partition)
            try:
                offsets[key] = int(self._wait(future).offset)
            except (KafkaException, TimeoutError) as exc:
                errors[key] = describe_failure(exc, "ListOffsets", f"{key[0]}[{key[1]}]")
        if spec is _LATEST and self.embedded:
            if self._end_reader is None:
                self._end_reader = EndReader(self.settings, self.timeout)
            offsets = self._end_reader.correct(offsets)
        return offsets, errors

    def _note_cluster(self, cluster_id: str | None) -> None:
        self.embedded = is_embedded_cluster_id(cluster_id)

    # -- snapshot --------------------------------------------------------------------------

    def poll(self) -> KafkaSnapshot:
        """The spec's snapshot; never raises (an unreachable broker gives ``connected=False``)."""
        with self._locked():
            try:
                return self._poll()
            except Exception as exc:  # the snapshot reports, it never raises
                return KafkaSnapshot(
                    connected=False,
                    topic=self.topic,
                    polled_at=time.time(),
                    error=str(self._failure(exc, "Metadata", hint=False)),
                )

    def _poll(self) -> KafkaSnapshot:
        admin = self._client()
        polled_at = time.time()
        started = time.perf_counter()
        metadata = admin.list_topics(timeout=self.timeout)
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        self._connected()
        self._note_cluster(metadata.cluster_id)
        brokers = sorted(
            (BrokerInfo(b.id, b.host or "", b.port) for b in metadata.brokers.values()),
            key=lambda b: b.id,
        )
        base = KafkaSnapshot(
            connected=True,
            latency_ms=latency_ms,
            topic=self.topic,
            brokers=brokers,
            controller_id=self._controller(admin, metadata.controller_id),
            cluster_id=metadata.cluster_id,
            polled_at=polled_at,
        )
        topic_md = metadata.topics.get(self.topic)
        if topic_md is None or topic_md.error is not None:
            reason = "does not exist" if topic_md is None else str(topic_md.error)
            return msgspec.structs.replace(base, error=f"topic {self.topic!r} {reason}")

        config_future = admin.describe_configs(
            [ConfigResource(ResourceType.TOPIC, self.topic)], request_timeout=self.timeout
        )
        ids = sorted(topic_md.partitions)
        latest, latest_err = self._watermarks(((self.topic, p) for p in ids), _LATEST)
        earliest, _ = self._watermarks(((self.topic, p) for p in ids), _EARLIEST)
        errors = sorted(set(latest_err.values()))

        self._record_watermarks(latest, polled_at)
        retention_ms = retention_bytes = None
        try:
            retention_ms, retention_bytes = retention_of(
                self._wait(next(iter(config_future.values())))
            )
        except (KafkaException, TimeoutError) as exc:
            errors.append(describe_failure(exc, "DescribeConfigs", self.topic))

        summary = summarize_topic(self.topic, topic_md)
        complete = len(latest) == len(ids)
        return msgspec.structs.replace(
            base,
            latest_offset=sum(latest.values()) if complete else None,
            partitions=len(ids),
            partition_details=partition_details(self.topic, topic_md, earliest, latest),
            replication_factor=summary.replication_factor,
            under_replicated_partitions=summary.under_replicated,
            retention_ms=retention_ms,
            retention_bytes=retention_bytes,
            error="; ".join(errors) or None,
        )

    def _controller(self, admin: AdminClient, reported: int) -> int | None:
        """Metadata's controller id, or None on KRaft (asked once per monitor)."""
        if reported < 0:
            return None
        if self._kraft is None:
            self._kraft = is_kraft(admin, reported, self.timeout)
        return None if self._kraft else reported

    # -- groups and lag --------------------------------------------------------------------

    def groups(self) -> list[str]:
        """Consumer group ids known to the cluster, sorted."""
        with self._locked():
            try:
                return self._groups()
            finally:
                self._group_admin = None

    def _ensure_reachable(self) -> None:
        # With no broker known, ListGroups asks nobody and answers an empty list: ask first.
        try:
            self._note_cluster(self._client().list_topics(timeout=self.timeout).cluster_id)
        except KafkaException as exc:
            raise self._failure(exc, "Metadata") from exc
        self._connected()

    def _groups(self) -> list[str]:
        self._ensure_reachable()
        try:
            result = self._wait(
                self._group_client().list_consumer_groups(request_timeout=self.timeout)
            )
        except (KafkaException, TimeoutError) as exc:
            raise BrokerUnavailableError(
                describe_failure(exc, "ListGroups", self._bootstrap)
            ) from exc
        return sorted(g.group_id for g in result.valid)

    def lag(self, group: str | None = None) -> list[GroupLag]:
        """Lag of ``group`` (every group when None), judged over each group's sliding window."""
        with self._locked():
            try:
                if group:
                    self._ensure_reachable()
                names = [group] if group else self._groups()
                if group is None:  # forget groups that are gone
                    alive = set(names)
                    for key in [k for k in self._windows if k[0] not in alive]:
                        del self._windows[key]
                return self._lag(names)
            finally:
                self._group_admin = None  # see _group_client

    def _lag(self, names: list[str]) -> list[GroupLag]:
        client = self._group_client()
        described = describe_groups(client, names, self.timeout)
        fetched = {name: committed_offsets(client, name, self.timeout) for name in names}
        partitions: set[_TP] = set()
        for name in names:
            partitions.update(fetched[name][0])
            owned = described[name][2]
            partitions.update(owned or ())
        sampled_at = time.time()
        latest, latest_err = self._watermarks(partitions, _LATEST)
        self._record_watermarks(latest, sampled_at)

        out: list[GroupLag] = []
        for name in names:
            committed, commit_err = fetched[name]
            state, members, owned = described[name]
            keys = sorted(set(committed) | (owned or set()))
            rows = [
                partition_lag(
                    name,
                    tp,
                    committed.get(tp),
                    latest.get(tp),
                    commit_err.get(tp) or latest_err.get(tp),
                    None if owned is None else tp in owned,
                    sampled_at,
                    windows=self._windows,
                    size=self.window,
                    min_sample_interval=self.min_sample_interval,
                    history=self._history.get(tp),
                )
                for tp in keys
            ]
            out.append(group_lag(name, state, members, rows))
        return out

    def close(self) -> None:
        """Release the admin connection; later polls report ``connected=False``.

        A poll or lag call in flight (many groups on a slow broker can take a while) is not
        waited for beyond :data:`CLOSE_WAIT_S`: it releases the clients itself when it ends.
        """
        if not self._lock.acquire(timeout=CLOSE_WAIT_S):
            self._close_pending = True
            if not self._lock.acquire(blocking=False):
                return
            self._close_pending = False  # the call ended meanwhile: release here
        try:
            self._release()
        finally:
            self._lock.release()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            try:
                yield
            finally:
                if self._close_pending:
                    self._close_pending = False
                    self._release()

    def _release(self) -> None:
        self._admin = None
        if self._end_reader is not None:
            reader, self._end_reader = self._end_reader, None
            reader.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
