"""The monitor: one long-lived admin connection polled for the topic snapshot and group lag.

The spec's ``MessagingMonitorService.pollKafka`` connected and disconnected an admin client on
every poll. Here one admin client lives as long as the monitor; every request has a bounded
timeout, so a broker that goes away costs one timeout per poll and yields ``connected: false``,
and librdkafka reconnects by itself when the broker returns.

The embedded broker (Tansu) reports a partition's high watermark as the base offset of its last
record batch plus one: short by the batch's size minus one after a multi-record batch. On that
broker only (told by the cluster id :class:`~cosmic_horizons.broker.EmbeddedBroker` gives it),
the monitor reads the last batch once per new watermark (a consumer assigned at the reported
watermark - 1 receives the whole batch) and reports its last record's offset + 1. Apache Kafka's
watermark is exact and is used as reported, with no extra request.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
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
from ..clients import admin_config, consumer_config
from ..cluster import BrokerInfo, is_kraft, make_admin
from ..config import KafkaSettings
from ..errors import (
    BrokerUnavailableError,
    ConfigError,
    HorizonsError,
    SecurityError,
    from_kafka_error,
    kafka_errors,
    rdkafka_error_of,
)
from ..topics.summary import partition_states, summarize_topic
from .burrow import OffsetSample, WatermarkHistory, evaluate_window, group_lag, lag_seconds
from .models import GroupLag, KafkaSnapshot, PartitionLag, PartitionState

__all__ = ["Monitor", "connection_reason"]


_TP = tuple[str, int]
_LATEST: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]  # untyped upstream
_EARLIEST: OffsetSpec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]  # untyped upstream


#: librdkafka errors that mean "no broker answered" (the request never reached one).
_UNREACHABLE = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._TIMED_OUT,
        KafkaError._RESOLVE,
    }
)
#: Connection errors librdkafka reports through ``error_cb``: they say why (refused, resolve...).
_CONNECTION = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._RESOLVE,
        KafkaError._SSL,
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
    }
)
_AFTER = re.compile(r"\s*\(after \d+ms in state \w+\)\s*$")
_RESOLVE = re.compile(r"Failed to resolve '([^']+)': (.+)$")
_FAILED = re.compile(r"failed: (.+)$")
_PREFIX = re.compile(r"^\S+/(?:bootstrap|\d+): ")


def connection_reason(text: str) -> str:
    """librdkafka's connection error as a few words: ``connection refused``, ``cannot resolve
    kafka:9092: name or service not known``, ``connection setup timed out``."""
    text = _AFTER.sub("", _PREFIX.sub("", text.strip()))
    if m := _RESOLVE.search(text):
        return f"cannot resolve {m.group(1)}: {m.group(2)[:1].lower()}{m.group(2)[1:]}"
    if m := _FAILED.search(text):
        text = m.group(1)
    return text[:1].lower() + text[1:] if text else "no answer"


def _is_unreachable(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError | BrokerUnavailableError):
        return True
    err = rdkafka_error_of(exc)
    return err is not None and err.code() in _UNREACHABLE


def _describe(
    exc: BaseException,
    operation: str,
    target: str,
    *,
    client: AdminClient | None = None,
    bootstrap: str | None = None,
) -> str:
    if isinstance(exc, KafkaException):
        return str(
            from_kafka_error(
                exc, operation=operation, target=target, client=client, bootstrap=bootstrap
            )
        )
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
        self._windows: dict[tuple[str, str, int], deque[OffsetSample]] = {}
        self._history: dict[_TP, WatermarkHistory] = {}
        #: True once the cluster answered with the embedded broker's cluster id.
        self.embedded = False
        self._end_reader: Consumer | None = None
        self._true_ends: dict[_TP, tuple[int, int]] = {}  # reported watermark -> true end
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
        if err.code() in _CONNECTION:
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
            if isinstance(err, SecurityError) or not _is_unreachable(exc):
                return err
        if _is_unreachable(exc):
            where = (
                "; check --bootstrap / KAFKA_BOOTSTRAP_SERVERS and that the broker is running"
                if hint
                else ""
            )
            return BrokerUnavailableError(f"{self._unreachable()}{where}")
        return HorizonsError(_describe(exc, operation, self._bootstrap))

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
        if spec is _LATEST and self.embedded:
            offsets = self._correct_ends(offsets)
        return offsets, errors

    def _note_cluster(self, cluster_id: str | None) -> None:
        self.embedded = is_embedded_cluster_id(cluster_id)

    def _correct_ends(self, reported: dict[_TP, int]) -> dict[_TP, int]:
        """The embedded broker's reported watermarks made exact: each is the base offset of the
        last batch + 1, so the batch read from ``reported - 1`` ends at the true end. A
        watermark seen before reuses its answer (a new batch always moves the reported one)."""
        out = dict(reported)
        todo: dict[_TP, int] = {}
        for tp, hw in reported.items():
            known = self._true_ends.get(tp)
            if known is not None and known[0] == hw:
                out[tp] = known[1]
            elif hw > 0:
                todo[tp] = hw
        if not todo:
            return out
        try:
            last = self._read_last_offsets(todo)
        except KafkaException:
            return out  # the reported figure, as Kafka would give it; corrected next time
        for tp, hw in todo.items():
            if tp in last:
                end = max(hw, last[tp] + 1)
                out[tp] = end
                self._true_ends[tp] = (hw, end)
        return out

    def _read_last_offsets(self, starts: dict[_TP, int]) -> dict[_TP, int]:
        """The last offset delivered from each partition, reading from ``reported - 1``."""
        if self._end_reader is None:
            self._end_reader = Consumer(
                consumer_config(
                    self.settings,
                    "monitor-end",
                    group="cosmic-horizons-monitor-end",
                    socket_timeout_ms=int(self.timeout * 1000),
                )
            )
        reader = self._end_reader
        reader.assign([TopicPartition(t, p, hw - 1) for (t, p), hw in starts.items()])
        last: dict[_TP, int] = {}
        pending = set(starts)
        deadline = time.monotonic() + min(self.timeout, 3.0)
        try:
            while pending and time.monotonic() < deadline:
                for msg in reader.consume(num_messages=10_000, timeout=0.01):
                    key = (msg.topic() or "", msg.partition() or 0)
                    err = msg.error()
                    if err is not None:
                        pending.discard(key)  # end of partition, or nothing readable there
                        continue
                    last[key] = max(last.get(key, -1), msg.offset() or 0)
        finally:
            reader.unassign()
        return last

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

        retention_ms = retention_bytes = None
        try:
            entries = self._wait(next(iter(config_future.values())))
            retention_ms = _int_config(entries, "retention.ms")
            retention_bytes = _int_config(entries, "retention.bytes")
        except (KafkaException, TimeoutError) as exc:
            errors.append(_describe(exc, "DescribeConfigs", self.topic))

        summary = summarize_topic(self.topic, topic_md)
        replicated = {p.id: p for p in partition_states(topic_md)}
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
                    under_replicated=replicated[pid].under_replicated,
                )
            )
        complete = len(latest) == len(ids)
        return msgspec.structs.replace(
            base,
            latest_offset=sum(latest.values()) if complete else None,
            partitions=len(ids),
            partition_details=details,
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
        with self._lock:
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
            with kafka_errors("OffsetFetch", f"group {name}"):
                result = self._wait(future)
        except TimeoutError as exc:
            raise BrokerUnavailableError(_describe(exc, "OffsetFetch", f"group {name}")) from exc
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
            out.append(group_lag(name, state, members, rows))
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
        if committed > high_watermark:
            rule += (
                f"; committed offset {committed} is past the reported log end "
                f"{high_watermark}, lag shown as 0"
            )
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
            if self._end_reader is not None:
                reader, self._end_reader = self._end_reader, None
                with contextlib.suppress(KafkaException, RuntimeError):
                    reader.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
