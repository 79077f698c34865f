"""Growing and shrinking the cluster: replica layouts, reassignment plans, broker metrics."""

from .models import Broker, Layout, Move, PartitionLayout, Plan
from .planner import PlanRefusedError, leader_counts, plan_drain, plan_rebalance, replica_counts

__all__ = [
    "Broker",
    "Layout",
    "Move",
    "PartitionLayout",
    "Plan",
    "PlanRefusedError",
    "leader_counts",
    "plan_drain",
    "plan_rebalance",
    "replica_counts",
]
