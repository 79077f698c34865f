"""Response models of the HTTP API (msgspec Structs; their JSON Schemas go into /openapi.json)."""

from __future__ import annotations

from typing import Any

import msgspec

from ..array_view import ArraySnapshot
from ..browse import BrowsedRecord
from ..monitor.models import GroupLag, KafkaSnapshot
from ..scaling.exporter import BrokerMetricsReport
from ..stats import StatsSnapshot

__all__ = [
    "API_MODELS",
    "DataPlaneUpdate",
    "ErrorBody",
    "LagReport",
    "Liveness",
    "Readiness",
    "RecordsPage",
    "ServiceStats",
    "TopicInfo",
    "TopicsReport",
]


class ErrorBody(msgspec.Struct, frozen=True):
    """An error answer (404, 503): what is missing or wrong."""

    detail: str


class Liveness(msgspec.Struct, frozen=True, kw_only=True):
    """The process is up and serving (it says nothing about the broker)."""

    status: str
    version: str
    uptime_s: float = msgspec.field(name="uptimeS")
    poller_alive: bool = msgspec.field(name="pollerAlive")
    array_running: bool | None = msgspec.field(name="arrayRunning")


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    """Whether the broker answered the last poll (HTTP 503 when it did not)."""

    ready: bool
    connected: bool | None
    latency_ms: float | None = msgspec.field(name="latencyMs")
    polled_at: float | None = msgspec.field(name="polledAt")
    error: str | None


class LagReport(msgspec.Struct, frozen=True, kw_only=True):
    """Consumer-group lag as of the last poll, judged by Burrow's rules."""

    groups: list[GroupLag]
    polled_at: float | None = msgspec.field(name="polledAt")
    error: str | None
    """Why lag could not be read at the last poll (the broker is unreachable, for example)."""


class TopicInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One topic of the cluster."""

    name: str
    partitions: int
    replication_factor: int = msgspec.field(name="replicationFactor")
    under_replicated_partitions: int = msgspec.field(name="underReplicatedPartitions")
    monitored: bool
    """True for the topic the monitor and the array view watch."""
    error: str | None = None


class TopicsReport(msgspec.Struct, frozen=True, kw_only=True):
    """The cluster's topics (internal ``__`` topics left out) as of the last poll."""

    topics: list[TopicInfo]
    polled_at: float | None = msgspec.field(name="polledAt")
    error: str | None


class ServiceStats(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of the components running in this process.

    ``publisher`` is null when no publisher runs here; ``components`` holds the stats of other
    components (the archiver, for example) by name.
    """

    publisher: StatsSnapshot | None
    components: dict[str, Any]


class DataPlaneUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """The ``snapshot`` event of ``/api/stream``: everything the data-plane panel shows."""

    snapshot: KafkaSnapshot | None
    lag: LagReport
    topics: TopicsReport
    stats: ServiceStats


class RecordsPage(msgspec.Struct, frozen=True, kw_only=True):
    """The latest records of one partition or one element (the dashboard's records panel),
    decoded, oldest first; ``error`` on a record that is not a valid packet."""

    topic: str
    partition: int | None
    element: str | None
    records: list[BrowsedRecord]


#: Every model that appears in a response (their schemas are added to the OpenAPI document).
API_MODELS: tuple[type[msgspec.Struct], ...] = (
    ErrorBody,
    Liveness,
    Readiness,
    KafkaSnapshot,
    LagReport,
    TopicsReport,
    ServiceStats,
    ArraySnapshot,
    DataPlaneUpdate,
    RecordsPage,
    BrokerMetricsReport,
)
