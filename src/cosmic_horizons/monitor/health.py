"""Healthy, degraded or unhealthy: what the snapshot and the lag mean for probes."""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

from .burrow import worst_status
from .models import GroupLag, KafkaSnapshot

__all__ = ["ServiceHealth", "lag_health", "snapshot_health"]


class ServiceHealth(IntEnum):
    """How healthy the data plane's service is (broker, topic, consumer lag).

    The CLI maps it to its exit codes (``cli/monitor.py``, ``docs/exit-codes.md``).
    """

    HEALTHY = 0
    DEGRADED = 1
    UNHEALTHY = 2
    #: ``horizons lag`` only: a group has lag but one sample cannot show a trend (not OK).
    UNKNOWN = 3


def snapshot_health(snapshot: KafkaSnapshot) -> tuple[ServiceHealth, list[str]]:
    """The snapshot's health and the reasons for anything less than healthy.

    Unhealthy: broker unreachable, topic missing, a partition without a leader.
    Degraded: under-replicated partitions, or offsets/configs that could not be read.
    """
    if not snapshot.connected:
        return ServiceHealth.UNHEALTHY, [snapshot.error or "broker unreachable"]
    if snapshot.partition_details is None:
        return ServiceHealth.UNHEALTHY, [snapshot.error or f"topic {snapshot.topic!r} unavailable"]
    offline = [p.partition for p in snapshot.partition_details if p.leader is None]
    if offline:
        return ServiceHealth.UNHEALTHY, [f"partitions without a leader: {offline}"]
    reasons: list[str] = []
    if snapshot.under_replicated_partitions:
        reasons.append(f"{snapshot.under_replicated_partitions} under-replicated partition(s)")
    if snapshot.error:
        reasons.append(snapshot.error)
    return (ServiceHealth.DEGRADED if reasons else ServiceHealth.HEALTHY), reasons


def lag_health(groups: Sequence[GroupLag]) -> tuple[ServiceHealth, list[str]]:
    """Burrow's verdict as health: OK healthy, WARN degraded, STOP/STALL/REWIND/ERR unhealthy.

    UNKNOWN (lag seen once, no trend yet) is its own answer when it is the worst status, so a
    script can tell "not judged" from OK.
    """
    status = worst_status(g.status for g in groups)
    reasons = [f"{g.group}: {g.status} ({g.rule})" for g in groups if g.status != "OK"]
    if status == "OK":
        return ServiceHealth.HEALTHY, reasons
    if status == "UNKNOWN":
        return ServiceHealth.UNKNOWN, reasons
    if status == "WARN":
        return ServiceHealth.DEGRADED, reasons
    return ServiceHealth.UNHEALTHY, reasons
