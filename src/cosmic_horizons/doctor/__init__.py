"""``horizons doctor``: every check of the cluster's health, each a pure function over a
:class:`~.state.ClusterState` that :mod:`.gather` reads from a real cluster."""

from .checks import run_checks
from .state import CheckResult, ClusterState, Level, worst_level

__all__ = ["CheckResult", "ClusterState", "Level", "run_checks", "worst_level"]
