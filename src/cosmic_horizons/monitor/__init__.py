"""The spec's ``MessagingMonitorService``: topic snapshot, consumer-group lag and its evaluation."""

from __future__ import annotations

from .models import GroupLag, KafkaSnapshot, LagStatus, PartitionLag, PartitionState
from .monitor import Monitor

__all__ = ["GroupLag", "KafkaSnapshot", "LagStatus", "Monitor", "PartitionLag", "PartitionState"]
