"""Consumer groups: state, committed offsets, offset resets and deletion."""

from .admin import GroupAdmin, GroupBusyError, GroupInfo, GroupMissingError
from .reset import PartitionReset, ResetPlan, ResetTo, plan_reset

__all__ = [
    "GroupAdmin",
    "GroupBusyError",
    "GroupInfo",
    "GroupMissingError",
    "PartitionReset",
    "ResetPlan",
    "ResetTo",
    "plan_reset",
]
