"""What the monitor reports: the spec's snapshot and consumer-group lag.

Attributes are snake_case; the JSON wire names are the spec's camelCase (``latencyMs``,
``latestOffset``) where the spec names a field.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ..cluster import BrokerInfo

__all__ = [
    "LAG_STATUSES",
    "GroupLag",
    "KafkaSnapshot",
    "LagStatus",
    "PartitionLag",
    "PartitionState",
    "worse",
]

LagStatus = Literal["OK", "UNKNOWN", "WARN", "STOP", "STALL", "REWIND", "ERR"]
#: Statuses from best to worst, in Burrow's ranking (its status constants order OK < WARN < STOP <
#: STALL < REWIND). UNKNOWN (one sample: lag but no trend yet) is just above OK; ERR, a partition
#: that cannot be evaluated, is above them all. A group takes its worst partition's status.
LAG_STATUSES: tuple[LagStatus, ...] = ("OK", "UNKNOWN", "WARN", "STOP", "STALL", "REWIND", "ERR")
_SEVERITY = {status: rank for rank, status in enumerate(LAG_STATUSES)}


def worse(a: LagStatus, b: LagStatus) -> LagStatus:
    """The more severe of two statuses."""
    return a if _SEVERITY[a] >= _SEVERITY[b] else b


class PartitionState(msgspec.Struct, frozen=True, kw_only=True):
    """One partition of the monitored topic."""

    partition: int
    leader: int | None
    replicas: list[int]
    isr: list[int]
    earliest_offset: int | None = msgspec.field(default=None, name="earliestOffset")
    latest_offset: int | None = msgspec.field(default=None, name="latestOffset")
    under_replicated: bool = msgspec.field(default=False, name="underReplicated")


class KafkaSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The spec's ``pollKafka`` answer {connected, latencyMs, latestOffset, partitions}, extended.

    When the broker cannot be reached: ``connected`` is False, every broker-supplied field is
    None and ``error`` says why.
    """

    connected: bool
    latency_ms: float | None = msgspec.field(default=None, name="latencyMs")
    latest_offset: int | None = msgspec.field(default=None, name="latestOffset")
    partitions: int | None = None
    topic: str
    brokers: list[BrokerInfo] | None = None
    controller_id: int | None = msgspec.field(default=None, name="controllerId")
    cluster_id: str | None = msgspec.field(default=None, name="clusterId")
    partition_details: list[PartitionState] | None = msgspec.field(
        default=None, name="partitionDetails"
    )
    #: Distinct replica brokers of the weakest partition (as ``topics list`` counts it).
    replication_factor: int | None = msgspec.field(default=None, name="replicationFactor")
    under_replicated_partitions: int | None = msgspec.field(
        default=None, name="underReplicatedPartitions"
    )
    retention_ms: int | None = msgspec.field(default=None, name="retentionMs")
    retention_bytes: int | None = msgspec.field(default=None, name="retentionBytes")
    polled_at: float = msgspec.field(name="polledAt")
    error: str | None = None


class PartitionLag(msgspec.Struct, frozen=True, kw_only=True):
    """A group's lag on one partition and the Burrow rule that judged it."""

    topic: str
    partition: int
    high_watermark: int | None = msgspec.field(name="highWatermark")
    committed: int | None
    lag: int | None
    lag_seconds: float | None = msgspec.field(name="lagSeconds")
    status: LagStatus
    rule: str


class GroupLag(msgspec.Struct, frozen=True, kw_only=True):
    """A consumer group's lag: totals, worst partition status, and every partition."""

    group: str
    state: str
    status: LagStatus
    rule: str
    total_lag: int = msgspec.field(name="totalLag")
    max_lag: int = msgspec.field(name="maxLag")
    max_lag_seconds: float | None = msgspec.field(name="maxLagSeconds")
    partitions: list[PartitionLag]
    members: int
