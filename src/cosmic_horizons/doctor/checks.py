"""Every check of ``horizons doctor``, in the order they are shown."""

from __future__ import annotations

from collections.abc import Callable

from .checks_cluster import (
    check_auto_create,
    check_brokers,
    check_connect,
    check_controller,
    check_listeners,
    check_replication,
    check_topic,
)
from .checks_data import (
    check_archive,
    check_clock,
    check_disk,
    check_dlq,
    check_headroom,
    check_lag,
)
from .checks_exporters import check_exporters, check_handlers
from .state import CheckResult, ClusterState

__all__ = ["CHECKS", "run_checks"]

Check = Callable[[ClusterState], list[CheckResult]]
CHECKS: tuple[Check, ...] = (
    check_connect,
    check_brokers,
    check_controller,
    check_listeners,
    check_topic,
    check_auto_create,
    check_replication,
    check_exporters,
    check_handlers,
    check_lag,
    check_headroom,
    check_disk,
    check_clock,
    check_dlq,
    check_archive,
)


def run_checks(state: ClusterState) -> list[CheckResult]:
    """Every check's verdicts; an unreachable cluster gets only the connect check's."""
    if state.error is not None:
        return check_connect(state)
    return [result for check in CHECKS for result in check(state)]
