"""Read a :class:`~.state.ClusterState` from a real cluster: metadata, configs, offsets,
records, groups (the monitor's Burrow judgement), disk usage, the archive and the brokers'
JMX exporters.

Everything is read, nothing is changed: no group is joined and no offset committed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType

from ..clients import consumer_config
from ..cluster import make_admin
from ..config import KafkaSettings
from ..errors import (
    BrokerUnavailableError,
    HorizonsError,
    UnsupportedByBrokerError,
    kafka_errors,
)
from ..monitor.monitor import Monitor
from ..packet import decode_packet
from ..scaling.exporter import BrokerMetricsReader
from ..topics.ages import oldest_record_times
from ..topics.diff import TopicState
from ..topics.models import desired_topic, dlq_topic_name
from ..topics.summary import partition_states
from ..topics.usage import describe_log_dirs
from .history import LastCheck
from .state import Broker, ClockSample, ClusterState, GroupPartition, GroupState, Offsets

__all__ = ["gather"]

_TP = tuple[str, int]


def gather(
    settings: KafkaSettings,
    *,
    expected_brokers: int | None = None,
    last: LastCheck | None = None,
    storage: str | None = None,
    exporters: tuple[str, ...] = (),
    timeout: float = 5.0,
    lag_interval: float = 1.0,
) -> ClusterState:
    """The state of the cluster of ``settings`` around its topic (``settings.topic``).

    An unreachable cluster gives a state with ``error`` set; a SASL/TLS failure raises.
    ``lag_interval`` seconds separate the two lag samples Burrow's rules need for a trend.
    ``exporters``: the brokers' JMX exporter URLs (``HORIZONS_BROKER_METRICS``), each scraped
    once with ``timeout``.
    """
    bootstrap = settings.require_bootstrap()
    base = ClusterState(
        bootstrap=bootstrap,
        topic=settings.topic,
        desired=desired_topic(settings.profile, settings.topic),
        now_ms=int(time.time() * 1000),
        expected_brokers=expected_brokers,
    )
    admin = make_admin(settings, timeout_ms=int(timeout * 1000))
    try:
        with kafka_errors("Metadata", bootstrap, client=admin, bootstrap=bootstrap):
            metadata = admin.list_topics(timeout=timeout)
    except BrokerUnavailableError as exc:
        return _replace(base, error=str(exc))
    topics = {
        name: TopicState(name=name, partitions=partition_states(md))
        for name, md in metadata.topics.items()
        if not name.startswith("__") and md.error is None
    }
    topics = _with_configs(admin, topics, timeout)
    brokers = tuple(_probe(b.id, b.host or "", b.port) for b in metadata.brokers.values())
    dlq = dlq_topic_name(settings.topic)
    offsets = _offsets(settings, topics, (settings.topic, dlq), timeout)
    groups = _groups(settings, offsets, timeout, lag_interval)
    usage, usage_error = _usage(settings, timeout)
    dlq_records = (
        sum(o.latest - o.earliest for (t, _), o in offsets.items() if t == dlq)
        if dlq in topics
        else None
    )
    archive, archive_error, archive_trim = _archive(storage, settings.topic, offsets)
    return _replace(
        base,
        brokers=tuple(sorted(brokers, key=lambda b: b.id)),
        controller_id=metadata.controller_id if metadata.controller_id >= 0 else None,
        topics=topics,
        offsets=offsets,
        broker_configs=_broker_configs(admin, sorted(metadata.brokers), timeout),
        groups=groups,
        usage=usage,
        usage_error=usage_error,
        previous_usage=(
            (last.at_ms, last.usage_bytes) if last and last.usage_bytes is not None else None
        ),
        clock=_clock(settings, settings.topic, offsets, timeout),
        dlq_records=dlq_records,
        previous_dlq_records=last.dlq_records if last else None,
        archive=archive,
        archive_error=archive_error,
        archive_trim=archive_trim,
        exporters=tuple(
            BrokerMetricsReader(exporters, timeout=timeout, min_interval=0).report().brokers
        ),
    )


def _replace(state: ClusterState, **changes: Any) -> ClusterState:
    return dataclasses.replace(state, **changes)


def _probe(broker_id: int, host: str, port: int, timeout: float = 2.0) -> Broker:
    """Whether the advertised ``host:port`` resolves and accepts a TCP connection from here."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            error = None
    except socket.gaierror as exc:
        error = f"does not resolve: {exc.strerror or exc}"
    except OSError as exc:
        error = f"no connection: {exc.strerror or exc}"
    return Broker(broker_id, host, port, connect_error=error, probed=True)


def _wait(futures: Mapping[Any, Any], timeout: float) -> dict[Any, Any]:
    out = {}
    for key, future in futures.items():
        with contextlib.suppress(Exception):  # a config not readable is a config not judged
            out[key] = future.result(timeout=timeout + 1)
    return out


def _with_configs(
    admin: AdminClient, topics: dict[str, TopicState], timeout: float
) -> dict[str, TopicState]:
    if not topics:
        return topics
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in topics]
    try:
        found = _wait(admin.describe_configs(resources, request_timeout=timeout), timeout)
    except Exception:  # no DescribeConfigs: the layout is judged without configs
        return topics
    out = dict(topics)
    for resource, entries in found.items():
        configs = {k: e.value for k, e in entries.items() if e.value is not None}
        out[resource.name] = msgspec.structs.replace(topics[resource.name], configs=configs)
    return out


def _broker_configs(admin: AdminClient, ids: list[int], timeout: float) -> dict[str, str]:
    if not ids:
        return {}
    resource = ConfigResource(ResourceType.BROKER, str(ids[0]))
    try:
        found = _wait(admin.describe_configs([resource], request_timeout=timeout), timeout)
    except Exception:
        return {}
    entries = found.get(resource, {})
    return {k: e.value for k, e in entries.items() if e.value is not None}


def _peek_consumer(settings: KafkaSettings, timeout: float) -> Consumer:
    return Consumer(
        consumer_config(
            settings,
            "peek",
            group=f"horizons-doctor-{uuid.uuid4().hex[:12]}",
            socket_timeout_ms=int(timeout * 1000),
        )
    )


def _offsets(
    settings: KafkaSettings, topics: dict[str, TopicState], names: Iterable[str], timeout: float
) -> dict[_TP, Offsets]:
    """Log start and end of ``names``' partitions, as the monitor reads them (exact on the
    embedded broker too, whose reported ends count batches), and the profile topic's oldest
    record times."""
    out: dict[_TP, Offsets] = {}
    for name in names:
        if name not in topics:
            continue
        with Monitor(settings, name, timeout=timeout) as monitor:
            snapshot = monitor.poll()
        for p in snapshot.partition_details or ():
            if p.earliest_offset is not None and p.latest_offset is not None:
                out[(name, p.partition)] = Offsets(p.earliest_offset, p.latest_offset)
        if name == settings.topic:
            ids = [pid for t, pid in out if t == name]
            for pid, ms in oldest_record_times(settings, name, ids, timeout=timeout).items():
                out[(name, pid)] = dataclasses.replace(out[(name, pid)], oldest_ms=ms)
    return out


def _read_at(
    settings: KafkaSettings, wanted: Mapping[_TP, int], timeout: float
) -> dict[_TP, tuple[int | None, bytes | None]]:
    """The record at each ``(topic, partition) -> offset``: its timestamp and value."""
    if not wanted:
        return {}
    consumer = _peek_consumer(settings, timeout)
    found: dict[_TP, tuple[int | None, bytes | None]] = {}
    try:
        consumer.assign([TopicPartition(t, p, o) for (t, p), o in wanted.items()])
        deadline = time.monotonic() + timeout
        while len(found) < len(wanted) and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            tp = (str(msg.topic()), int(msg.partition() or 0))
            if tp in found or tp not in wanted:
                continue
            kind, stamp = msg.timestamp()
            value = msg.value()
            found[tp] = (
                stamp if kind != TIMESTAMP_NOT_AVAILABLE and stamp >= 0 else None,
                value if isinstance(value, bytes) else None,
            )
            consumer.pause([TopicPartition(*tp)])
    finally:
        consumer.close()
    return found


def _groups(
    settings: KafkaSettings, offsets: Mapping[_TP, Offsets], timeout: float, interval: float
) -> tuple[GroupState, ...]:
    with Monitor(settings, timeout=timeout, window=10, min_sample_interval=0.0) as monitor:
        monitor.lag()
        time.sleep(interval)
        # The groups that read this topic (a shared cluster's other groups are not its doctor's).
        lags = [
            g
            for g in monitor.lag()
            if not g.group.startswith("horizons-")
            and any(p.topic == settings.topic for p in g.partitions)
        ]
    unread = {
        (p.topic, p.partition): p.committed
        for g in lags
        for p in g.partitions
        if p.committed is not None and p.lag and (p.topic, p.partition) in offsets
        and p.committed >= offsets[(p.topic, p.partition)].earliest
    }  # fmt: skip
    times = _read_at(settings, unread, timeout)
    return tuple(
        GroupState(
            g.group,
            g.status,
            g.rule,
            g.total_lag,
            g.max_lag_seconds,
            tuple(
                GroupPartition(
                    p.topic,
                    p.partition,
                    p.committed,
                    times.get((p.topic, p.partition), (None, None))[0] if p.lag else None,
                )
                for p in g.partitions
            ),
        )
        for g in lags
    )


def _clock(
    settings: KafkaSettings, topic: str, offsets: Mapping[_TP, Offsets], timeout: float
) -> tuple[ClockSample, ...]:
    """The newest record of each partition of ``topic``: record and packet timestamps."""
    last = {
        tp: o.latest - 1 for tp, o in offsets.items() if tp[0] == topic and o.latest > o.earliest
    }
    samples = []
    for (_, partition), (stamp, value) in sorted(_read_at(settings, last, timeout).items()):
        if stamp is None:
            continue
        packet_ms = None
        if value is not None:
            with contextlib.suppress(HorizonsError, ValueError):
                packet_ms = decode_packet(value).timestamp_ms()
        samples.append(ClockSample(partition, stamp, packet_ms))
    return tuple(samples)


def _usage(settings: KafkaSettings, timeout: float) -> tuple[Any, str | None]:
    try:
        return describe_log_dirs(settings, timeout_s=timeout), None
    except UnsupportedByBrokerError:
        return None, "the broker does not implement DescribeLogDirs"
    except HorizonsError as exc:
        return None, str(exc)


def _archive(
    storage: str | None, topic: str, offsets: Mapping[_TP, Offsets]
) -> tuple[tuple[int, tuple[str, ...]] | None, str | None, tuple[int, int] | None]:
    """``archive verify``'s summary, and the trim plan: what the archive already holds."""
    if storage is None:
        return None, None, None
    from ..archiver.storage import ArchiveStorage
    from ..archiver.trim import plan_trim
    from ..archiver.verify import verify_archive

    try:
        store = ArchiveStorage(storage)
        report = verify_archive(store, topic=topic)
        files = store.list_files(topic)
    except HorizonsError as exc:
        return None, str(exc), None
    problems = [
        *(
            f"gap in {g.topic}[{g.partition}]: offsets {g.first}-{g.last} missing"
            for g in report.gaps
        ),
        *(
            f"overlap in {o.topic}[{o.partition}]: offsets {o.first}-{o.last}"
            for o in report.overlaps
        ),
        *(f"bad file {f.path}: {f.kind} ({f.detail})" for f in report.file_problems),
    ]
    mine = {p: o for (t, p), o in offsets.items() if t == topic}
    trim = None
    if mine:
        plan = plan_trim(
            topic, files, {p: o.earliest for p, o in mine.items()},
            {p: o.latest for p, o in mine.items()},
        )  # fmt: skip
        trim = (plan.deletes, sum(o.latest - o.earliest for o in mine.values()))
    return (report.files, tuple(problems)), None, trim


def state_path_for(settings: KafkaSettings) -> Path:
    from .history import default_state_path

    return default_state_path(settings.require_bootstrap(), settings.topic)
