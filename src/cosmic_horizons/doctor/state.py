"""What the doctor knows about a cluster, and what each check says about it.

Plain frozen dataclasses: the checks (:mod:`.checks`) read them and nothing else, so a unit
test fabricates a state and asserts the verdict; :mod:`.gather` fills them from a cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..monitor.models import LagStatus
from ..scaling.exporter import BrokerMetrics
from ..topics.diff import TopicState
from ..topics.models import TopicSpec
from ..topics.usage import DiskUsage

__all__ = [
    "LEVELS",
    "Broker",
    "CheckResult",
    "ClockSample",
    "ClusterState",
    "GroupPartition",
    "GroupState",
    "Level",
    "Offsets",
    "worst_level",
]

Level = Literal["OK", "SKIP", "WARN", "FAIL"]
#: Best to worst; SKIP (a check that had nothing to judge) counts as OK.
LEVELS: tuple[Level, ...] = ("OK", "SKIP", "WARN", "FAIL")


def worst_level(levels: Iterable[Level]) -> Level:
    """The worst of ``levels``: FAIL, WARN, else OK (SKIP counts as OK; none is OK)."""
    worst: Level = max(levels, key=LEVELS.index, default="OK")
    return "OK" if worst == "SKIP" else worst


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One verdict: which check, how bad, one line saying what was found, and the fix."""

    check: str
    level: Level
    message: str
    fix: str | None = None


@dataclass(frozen=True, slots=True)
class Broker:
    """A broker as metadata advertises it, and whether that address answers from here."""

    id: int
    host: str
    port: int
    #: None: it resolved and accepted a TCP connection; else why not (None when not probed).
    connect_error: str | None = None
    probed: bool = False


@dataclass(frozen=True, slots=True)
class Offsets:
    """A partition's log start and end, and the time of its oldest record (ms), if known."""

    earliest: int
    latest: int
    oldest_ms: int | None = None


@dataclass(frozen=True, slots=True)
class GroupPartition:
    """Where a group stands on one partition: its committed offset and the time (ms) of the
    first record it has not read (None when caught up or not read)."""

    topic: str
    partition: int
    committed: int | None
    unread_ms: int | None = None


@dataclass(frozen=True, slots=True)
class GroupState:
    """A consumer group as the monitor judged it (Burrow's status) and where it stands."""

    name: str
    status: LagStatus
    rule: str
    total_lag: int
    max_lag_seconds: float | None
    partitions: tuple[GroupPartition, ...] = ()


@dataclass(frozen=True, slots=True)
class ClockSample:
    """One recent record: its record timestamp and the packet's own timestamp (ms)."""

    partition: int
    record_ms: int
    packet_ms: int | None


@dataclass(frozen=True, slots=True)
class ClusterState:
    """Everything the checks read. ``error`` set means the cluster could not be reached."""

    bootstrap: str
    topic: str
    desired: TopicSpec
    now_ms: int
    error: str | None = None
    brokers: tuple[Broker, ...] = ()
    controller_id: int | None = None
    #: Brokers the operator expects (``--brokers N``); None: judged from the replicas only.
    expected_brokers: int | None = None
    topics: Mapping[str, TopicState] = field(default_factory=dict)
    #: The brokers' JMX exporters' answers (``HORIZONS_BROKER_METRICS``); empty: none set.
    exporters: tuple[BrokerMetrics, ...] = ()
    #: Offsets of the profile topic's partitions (and its dead-letter topic's).
    offsets: Mapping[tuple[str, int], Offsets] = field(default_factory=dict)
    broker_configs: Mapping[str, str] = field(default_factory=dict)
    groups: tuple[GroupState, ...] = ()
    usage: DiskUsage | None = None
    usage_error: str | None = None
    #: The same totals at the previous check (``(time ms, bytes)``), for a growth rate.
    previous_usage: tuple[int, int] | None = None
    clock: tuple[ClockSample, ...] = ()
    dlq_records: int | None = None
    previous_dlq_records: int | None = None
    #: ``archive verify``'s summary when --storage was given: (files, problems) or an error.
    archive: tuple[int, tuple[str, ...]] | None = None
    archive_error: str | None = None
    #: What the archive already holds of the topic: (records a trim would drop, records in
    #: Kafka), from the trim plan (``topics trim --archived``).
    archive_trim: tuple[int, int] | None = None
