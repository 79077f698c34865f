"""The data plane as of the last poll: broker snapshot, publisher stats, group lag, topics."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from ...monitor.models import KafkaSnapshot
from ..dependencies import State
from ..models import ErrorBody, LagReport, ServiceStats, TopicsReport
from ..responses import StructRoute, answer

__all__ = ["router"]

router = APIRouter(tags=["messaging"], route_class=StructRoute)


@router.get(
    "/api/messaging/snapshot",
    summary="The spec's pollKafka snapshot, extended (cached, refreshed every poll)",
    response_description=(
        "The last snapshot; connected=false with nulls when the broker is unreachable."
    ),
    responses={503: answer(ErrorBody, "No poll has finished yet.")},
)
async def snapshot(state: State) -> KafkaSnapshot:
    """The snapshot of the last poll; 503 until the first poll finished."""
    snap = state.cache.snapshot
    if snap is None:
        raise HTTPException(503, "first poll still in progress")
    return snap


@router.get(
    "/api/messaging/stats",
    summary="Publisher stats and other components' stats (archiver)",
    response_description="publisher is null when no publisher runs here.",
)
def stats(state: State) -> ServiceStats:
    """The counters of the publisher and other components (a failing one reports its error)."""
    return state.service_stats()


@router.get(
    "/api/messaging/lag",
    summary="Consumer-group lag per partition with Burrow status and rule",
    response_description="Every group, or only ?group=.",
    responses={404: answer(ErrorBody, "No such group.")},
)
async def lag(
    state: State,
    group: str | None = Query(None, description="Only this consumer group."),
) -> LagReport:
    """Every group's lag, or one group's; 404 for a group a successful last poll did not see."""
    report = state.cache.lag
    if group is None:
        return report
    groups = [g for g in report.groups if g.group == group]
    if not groups and report.error is None:
        raise HTTPException(404, f"no consumer group {group!r}")
    return LagReport(groups=groups, polled_at=report.polled_at, error=report.error)


@router.get(
    "/api/topics",
    summary="Topics of the cluster with partitions and replication",
    response_description="As of the last poll.",
)
async def topics(state: State) -> TopicsReport:
    """The cluster's topics as of the last poll, internal `__` topics left out."""
    return state.cache.topics
