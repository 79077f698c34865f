"""Disk usage per topic, partition, broker and log directory (Kafka's DescribeLogDirs).

confluent-kafka does not expose DescribeLogDirs; kafka-python's admin client does, so this
module (and only this one) talks to the brokers through kafka-python. It takes the project's
:class:`~cosmic_horizons.config.KafkaSettings` (one mapping, :func:`kafka_python_config`) and
raises this project's errors (:func:`translate_kafka_python_error`; both in :mod:`.kafka_python`)::

    usage = describe_log_dirs(settings, topics=["element.raw_data"])
    usage.by_broker()            # {broker id: bytes on its disks}
    usage.partition_bytes()      # {(topic, partition): bytes of its largest replica}

A broker without the API (it answers UnsupportedVersion, or leaves DescribeLogDirs out of its
ApiVersions) raises :class:`~cosmic_horizons.errors.UnsupportedByBrokerError`.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import errors
from ..config import KafkaSettings
from .kafka_python import (
    _kafka_python_errors,
    _SeenFailures,
    kafka_python_config,
    translate_kafka_python_error,
)

__all__ = [
    "DiskUsage",
    "LogDirUsage",
    "ReplicaUsage",
    "describe_log_dirs",
    "kafka_python_config",
    "parse_log_dirs",
    "translate_kafka_python_error",
]

OPERATION = "DescribeLogDirs"
#: DescribeLogDirs v4+ reports a log dir's capacity; older answers carry -1 there.
_UNKNOWN = -1


@dataclass(frozen=True, slots=True)
class ReplicaUsage:
    """One replica of one partition, on one broker, in one log directory."""

    topic: str
    partition: int
    broker: int
    log_dir: str
    size_bytes: int
    #: How far this replica is behind the partition's high watermark (or a future replica
    #: behind the current one), in records; 0 for a leader.
    offset_lag: int = 0
    #: A replica being moved into this log dir (AlterReplicaLogDirs), not yet current.
    is_future: bool = False


@dataclass(frozen=True, slots=True)
class LogDirUsage:
    """One log directory of one broker: its error (if any) and its capacity when reported."""

    broker: int
    log_dir: str
    error: str | None = None
    total_bytes: int | None = None
    usable_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """What DescribeLogDirs reported: every replica and every log directory."""

    replicas: tuple[ReplicaUsage, ...]
    log_dirs: tuple[LogDirUsage, ...]

    @property
    def total_bytes(self) -> int:
        """Bytes of every current replica (future replicas not counted)."""
        return sum(r.size_bytes for r in self.current())

    def current(self) -> Iterator[ReplicaUsage]:
        return (r for r in self.replicas if not r.is_future)

    def by_broker(self) -> dict[int, int]:
        """Bytes per broker (every replica it holds, every log dir)."""
        out: dict[int, int] = defaultdict(int)
        for d in self.log_dirs:
            out[d.broker] += 0
        for r in self.current():
            out[r.broker] += r.size_bytes
        return dict(sorted(out.items()))

    def by_topic(self) -> dict[str, int]:
        """Bytes per topic, over all its replicas (so RF 3 counts three copies)."""
        out: dict[str, int] = defaultdict(int)
        for r in self.current():
            out[r.topic] += r.size_bytes
        return dict(sorted(out.items()))

    def partition_bytes(self) -> dict[tuple[str, int], int]:
        """Bytes of one copy of each partition: its largest current replica."""
        out: dict[tuple[str, int], int] = {}
        for r in self.current():
            key = (r.topic, r.partition)
            out[key] = max(out.get(key, 0), r.size_bytes)
        return dict(sorted(out.items()))

    def for_topics(self, names: Iterable[str]) -> DiskUsage:
        """Only the replicas of ``names`` (log dirs kept: they are the brokers' disks)."""
        wanted = set(names)
        return DiskUsage(
            tuple(r for r in self.replicas if r.topic in wanted),
            self.log_dirs,
        )


def parse_log_dirs(responses: Sequence[Mapping[str, Any]]) -> DiskUsage:
    """A :class:`DiskUsage` from kafka-python's answer: ``[{"broker", "log_dirs": [...]}]``."""
    from kafka.errors import for_code

    replicas: list[ReplicaUsage] = []
    dirs: list[LogDirUsage] = []
    for answer in responses:
        broker = int(answer["broker"])
        for d in answer.get("log_dirs") or ():
            path = str(d.get("log_dir", ""))
            code = int(d.get("error_code", 0))
            total = int(d.get("total_bytes", _UNKNOWN))
            usable = int(d.get("usable_bytes", _UNKNOWN))
            dirs.append(
                LogDirUsage(
                    broker=broker,
                    log_dir=path,
                    error=None if code == 0 else for_code(code).__name__,
                    total_bytes=None if total < 0 else total,
                    usable_bytes=None if usable < 0 else usable,
                )
            )
            for t in d.get("topics") or ():
                for p in t.get("partitions") or ():
                    replicas.append(
                        ReplicaUsage(
                            topic=str(t["name"]),
                            partition=int(p["partition_index"]),
                            broker=broker,
                            log_dir=path,
                            size_bytes=int(p["partition_size"]),
                            offset_lag=int(p.get("offset_lag", 0)),
                            is_future=bool(p.get("is_future_key", False)),
                        )
                    )
    replicas.sort(key=lambda r: (r.topic, r.partition, r.broker, r.log_dir))
    dirs.sort(key=lambda d: (d.broker, d.log_dir))
    return DiskUsage(tuple(replicas), tuple(dirs))


def describe_log_dirs(
    settings: KafkaSettings,
    topics: Sequence[str] | None = None,
    *,
    brokers: Sequence[int] | None = None,
    timeout_s: float = 10.0,
) -> DiskUsage:
    """Ask every broker (or ``brokers``) for its log dirs; only ``topics`` when given.

    A topic in ``topics`` that does not exist raises :class:`~cosmic_horizons.errors.TopicError`
    (code ``UNKNOWN_TOPIC_OR_PART``).
    """
    conf = kafka_python_config(settings, timeout_s=timeout_s)
    target = settings.require_bootstrap()
    secrets = [str(conf.get(k) or "") for k in ("sasl_plain_password", "ssl_password")]
    with _kafka_python_errors(OPERATION, target, secrets) as seen:
        admin = _connect(conf, seen, timeout_s)
        seen.clear()
        try:
            if topics:
                _require_topics(admin, topics)
            answer = admin.describe_log_dirs(
                topic_partitions=list(topics) if topics else None,
                brokers=list(brokers) if brokers is not None else None,
            )
        finally:
            admin.close()
    usage = parse_log_dirs(answer)
    return usage.for_topics(topics) if topics else usage


#: The first bootstrap attempt (each next one twice as long): kafka-python retries a refused
#: login until its timeout, so short attempts let a SASL/TLS failure end the command early
#: instead of after ``timeout_s``, and longer ones still let a slow handshake finish.
_ATTEMPT_S = 2.0


def _connect(conf: dict[str, Any], seen: _SeenFailures, timeout_s: float) -> Any:
    """A bootstrapped kafka-python admin client; stops at the first SASL/TLS failure."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaTimeoutError

    deadline = time.monotonic() + timeout_s
    attempt_s = _ATTEMPT_S
    while True:
        left = deadline - time.monotonic()
        attempt = {**conf, "bootstrap_timeout_ms": int(1000 * max(0.5, min(attempt_s, left)))}
        attempt_s *= 2
        admin = KafkaAdminClient.__new__(KafkaAdminClient)
        try:
            admin.__init__(**attempt)
            return admin
        except KafkaTimeoutError:
            _stop_half_built(admin)
            if seen.security_failure() is not None or time.monotonic() >= deadline:
                raise
        except BaseException:
            _stop_half_built(admin)
            raise


def _stop_half_built(admin: Any) -> None:
    """Stop the IO thread of a client whose bootstrap failed (its close() would not)."""
    net = getattr(admin, "_net", None)
    if net is not None:
        with contextlib.suppress(Exception):
            net.stop()


def _require_topics(admin: Any, topics: Sequence[str]) -> None:
    known = set(admin.list_topics())
    missing = [t for t in topics if t not in known]
    if missing:
        raise errors.TopicError(
            f"{OPERATION} on {', '.join(missing)}: no such topic", code="UNKNOWN_TOPIC_OR_PART"
        )
