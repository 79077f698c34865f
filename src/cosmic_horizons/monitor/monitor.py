"""The monitor: one long-lived admin connection polled for the topic snapshot and group lag.

The spec's ``MessagingMonitorService.pollKafka`` connected and disconnected an admin client on
every poll. Here one admin client lives as long as the monitor; every request has a bounded
timeout, so a broker that goes away costs one timeout per poll and yields ``connected: false``,
and librdkafka reconnects by itself when the broker returns.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

import msgspec
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

# confluent_kafka.admin re-exports these without __all__; their own modules satisfy mypy.
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._listoffsets import OffsetSpec
from confluent_kafka.admin._resource import ResourceType

from ..cluster import BrokerInfo, make_admin
from ..config import KafkaSettings
from ..errors import BrokerUnavailableError, HorizonsError, from_kafka_error
from .burrow import OffsetSample, WatermarkHistory, evaluate_window, group_status, lag_seconds
from .models import GroupLag, KafkaSnapshot, PartitionLag, PartitionState

__all__ = ["Monitor"]

_TP = tuple[str, int]
_LATEST: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]  # untyped upstream
_EARLIEST: OffsetSpec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]  # untyped upstream


def _describe(exc: BaseException, operation: str, target: str) -> str:
    if isinstance(exc, KafkaException):
        return str(from_kafka_error(exc, operation=operation, target=target))
    if isinstance(exc, TimeoutError):
        return f"{operation} on {target}: no answer in time"
    return f"{operation} on {target}: {exc}"


def _int_config(entries: dict[str, Any], name: str) -> int | None:
    entry = entries.get(name)
    if entry is None or entry.value is None:
        return None
    try:
        return int(entry.value)
    except ValueError:
        return None


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
            raise HorizonsError(f"window={window}: Burrow's rules need at least 2 samples")
        if timeout <= 0:
            raise HorizonsError(f"timeout={timeout}: must be positive")
        self.settings = settings
        self.topic = topic or settings.topic
        self.timeout = timeout
        self.window = window
        self.min_sample_interval = min_sample_interval
        self._bootstrap = settings.require_bootstrap()
        self._admin: AdminClient | None = make_admin(settings, timeout_ms=int(timeout * 1000))
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str, int], deque[OffsetSample]] = {}
        self._history: dict[_TP, WatermarkHistory] = {}
        self._group_admin: AdminClient | None = None

    # -- helpers ---------------------------------------------------------------------------

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

    def _record_watermark(self, tp: _TP, at: float, high_watermark: int) -> None:
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
                errors[key] = _describe(exc, "ListOffsets", f"{key[0]}[{key[1]}]")
        return offsets, errors

    # -- snapshot --------------------------------------------------------------------------

    def poll(self) -> KafkaSnapshot:
        """The spec's snapshot; never raises (an unreachable broker gives ``connected=False``)."""
        with self._lock:
            try:
                return self._poll()
            except Exception as exc:  # the snapshot reports, it never raises
                return KafkaSnapshot(
                    connected=False,
                    topic=self.topic,
                    polled_at=time.time(),
                    error=_describe(exc, "Metadata", self._bootstrap),
                )

    def _poll(self) -> KafkaSnapshot:
        admin = self._client()
        polled_at = time.time()
        started = time.perf_counter()
        metadata = admin.list_topics(timeout=self.timeout)
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        brokers = sorted(
            (BrokerInfo(b.id, b.host or "", b.port) for b in metadata.brokers.values()),
            key=lambda b: b.id,
        )
        base = KafkaSnapshot(
            connected=True,
            latency_ms=latency_ms,
            topic=self.topic,
            brokers=brokers,
            controller_id=metadata.controller_id if metadata.controller_id >= 0 else None,
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

        retention_ms = retention_bytes = None
        try:
            entries = self._wait(next(iter(config_future.values())))
            retention_ms = _int_config(entries, "retention.ms")
            retention_bytes = _int_config(entries, "retention.bytes")
        except (KafkaException, TimeoutError) as exc:
            errors.append(_describe(exc, "DescribeConfigs", self.topic))

        details: list[PartitionState] = []
        for pid in ids:
            pmd = topic_md.partitions[pid]
            hw = latest.get((self.topic, pid))
            if hw is not None:
                self._record_watermark((self.topic, pid), polled_at, hw)
            details.append(
                PartitionState(
                    partition=pid,
                    leader=pmd.leader if pmd.leader >= 0 else None,
                    replicas=list(pmd.replicas),
                    isr=list(pmd.isrs),
                    earliest_offset=earliest.get((self.topic, pid)),
                    latest_offset=hw,
                    under_replicated=len(pmd.isrs) < len(pmd.replicas),
                )
            )
        complete = len(latest) == len(ids)
        return msgspec.structs.replace(
            base,
            latest_offset=sum(latest.values()) if complete else None,
            partitions=len(ids),
            partition_details=details,
            under_replicated_partitions=sum(1 for d in details if d.under_replicated),
            retention_ms=retention_ms,
            retention_bytes=retention_bytes,
            error="; ".join(errors) or None,
        )

    # -- groups and lag --------------------------------------------------------------------

    def groups(self) -> list[str]:
        """Consumer group ids known to the cluster, sorted."""
        with self._lock:
            try:
                return self._groups()
            finally:
                self._group_admin = None

    def _ensure_reachable(self) -> None:
        # With no broker known, ListGroups asks nobody and answers an empty list: ask first.
        try:
            self._client().list_topics(timeout=self.timeout)
        except KafkaException as exc:
            raise from_kafka_error(exc, operation="Metadata", target=self._bootstrap) from exc

    def _groups(self) -> list[str]:
        self._ensure_reachable()
        try:
            result = self._wait(
                self._group_client().list_consumer_groups(request_timeout=self.timeout)
            )
        except (KafkaException, TimeoutError) as exc:
            raise BrokerUnavailableError(_describe(exc, "ListGroups", self._bootstrap)) from exc
        return sorted(g.group_id for g in result.valid)

    def lag(self, group: str | None = None) -> list[GroupLag]:
        """Lag of ``group`` (every group when None), judged over each group's sliding window."""
        with self._lock:
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

    def _describe_groups(self, names: list[str]) -> dict[str, tuple[str, int, set[_TP] | None]]:
        """State, member count and owned partitions of each group (None when unknown)."""
        out: dict[str, tuple[str, int, set[_TP] | None]] = {}
        if not names:
            return out
        futures = self._group_client().describe_consumer_groups(names, request_timeout=self.timeout)
        for name, future in futures.items():
            try:
                desc = self._wait(future)
            except (KafkaException, TimeoutError):
                out[name] = ("UNKNOWN", 0, None)
                continue
            owned: set[_TP] = set()
            for member in desc.members:
                if member.assignment is not None:
                    owned.update(
                        (tp.topic, tp.partition) for tp in member.assignment.topic_partitions
                    )
            state = getattr(desc.state, "name", str(desc.state))
            if not desc.members and state not in ("EMPTY", "DEAD"):
                # an active group reported without members: the broker does not tell who owns what
                out[name] = (state, 0, None)
                continue
            out[name] = (state, len(desc.members), owned)
        return out

    def _committed(self, name: str) -> tuple[dict[_TP, int | None], dict[_TP, str]]:
        future = self._group_client().list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(name)], request_timeout=self.timeout
        )[name]
        try:
            result = self._wait(future)
        except TimeoutError as exc:
            raise BrokerUnavailableError(_describe(exc, "OffsetFetch", f"group {name}")) from exc
        except KafkaException as exc:
            raise from_kafka_error(exc, operation="OffsetFetch", target=f"group {name}") from exc
        committed: dict[_TP, int | None] = {}
        errors: dict[_TP, str] = {}
        for tp in result.topic_partitions or []:
            key = (tp.topic, tp.partition)
            if tp.error is not None:
                errors[key] = f"committed offset unavailable: {tp.error.str()}"
            committed[key] = tp.offset if tp.offset >= 0 else None
        return committed, errors

    def _lag(self, names: list[str]) -> list[GroupLag]:
        described = self._describe_groups(names)
        fetched = {name: self._committed(name) for name in names}
        partitions: set[_TP] = set()
        for name in names:
            partitions.update(fetched[name][0])
            owned = described[name][2]
            partitions.update(owned or ())
        sampled_at = time.time()
        latest, latest_err = self._watermarks(partitions, _LATEST)
        for tp, hw in latest.items():
            self._record_watermark(tp, sampled_at, hw)

        out: list[GroupLag] = []
        for name in names:
            committed, commit_err = fetched[name]
            state, members, owned = described[name]
            keys = sorted(set(committed) | (owned or set()))
            rows = [
                self._partition_lag(
                    name,
                    tp,
                    committed.get(tp),
                    latest.get(tp),
                    commit_err.get(tp) or latest_err.get(tp),
                    None if owned is None else tp in owned,
                    sampled_at,
                )
                for tp in keys
            ]
            status, rule = group_status(rows)
            lags = [r.lag for r in rows if r.lag is not None]
            seconds = [r.lag_seconds for r in rows if r.lag_seconds is not None]
            out.append(
                GroupLag(
                    group=name,
                    state=state,
                    status=status,
                    rule=rule,
                    total_lag=sum(lags),
                    max_lag=max(lags, default=0),
                    max_lag_seconds=max(seconds) if seconds else None,
                    partitions=rows,
                    members=members,
                )
            )
        return out

    def _partition_lag(
        self,
        group: str,
        tp: _TP,
        committed: int | None,
        high_watermark: int | None,
        error: str | None,
        owned: bool | None,
        now: float,
    ) -> PartitionLag:
        topic, partition = tp
        if error is not None or high_watermark is None:
            return PartitionLag(
                topic=topic,
                partition=partition,
                high_watermark=high_watermark,
                committed=committed,
                lag=None,
                lag_seconds=None,
                status="ERR",
                rule=error or "high watermark unavailable",
            )
        if committed is None:
            return PartitionLag(
                topic=topic,
                partition=partition,
                high_watermark=high_watermark,
                committed=None,
                lag=None,
                lag_seconds=None,
                status="OK",
                rule="assigned, no offset committed yet",
            )
        window = self._windows.setdefault((group, topic, partition), deque(maxlen=self.window))
        sample = OffsetSample(now, committed, high_watermark)
        if not window or now - window[-1].timestamp >= self.min_sample_interval:
            window.append(sample)
            judged = list(window)
        else:
            # Asked again too soon: judge the fresh sample without letting it crowd the window.
            judged = [*list(window)[1 - self.window :], sample]
        status, rule = evaluate_window(judged, now=now, owned=owned)
        history = self._history.get(tp)
        seconds = (
            0.0
            if sample.lag == 0
            else (lag_seconds(list(history.points), committed, now=now) if history else None)
        )
        return PartitionLag(
            topic=topic,
            partition=partition,
            high_watermark=high_watermark,
            committed=committed,
            lag=sample.lag,
            lag_seconds=None if seconds is None else round(seconds, 3),
            status=status,
            rule=rule,
        )

    def close(self) -> None:
        """Release the admin connection; later polls report ``connected=False``."""
        with self._lock:
            self._admin = None

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
