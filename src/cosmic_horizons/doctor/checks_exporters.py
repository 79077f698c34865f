"""The checks that read the brokers' JMX exporters (``HORIZONS_BROKER_METRICS``): does every
exporter answer, what the brokers count as under-replicated and offline, and how busy their
request handler threads are. Without exporter URLs they have nothing to judge (SKIP).

Pure functions of a :class:`~.state.ClusterState`, as the other checks.
"""

from __future__ import annotations

from typing import Final

from ..scaling.exporter import ENV
from .state import CheckResult, ClusterState

__all__ = ["IDLE_WARN", "check_exporters", "check_handlers", "exporter_replication"]

#: Below this share of idle time (over a minute) the request handlers are near saturation.
IDLE_WARN: Final = 0.2


def check_exporters(s: ClusterState) -> list[CheckResult]:
    """Every configured exporter answers; one that does not is a WARN (its broker's metrics
    are then not judged)."""
    if not s.exporters:
        return [CheckResult("exporters", "SKIP", f"no broker exporter configured ({ENV} unset)")]
    out = [
        CheckResult(
            "exporters",
            "WARN",
            f"{b.url} did not answer ({b.error}): that broker's metrics are not judged",
            "check that the broker runs with the JMX exporter agent (deploy/kafka-metrics.yaml) "
            f"and that {ENV} names its address",
        )
        for b in s.exporters
        if not b.up
    ]
    return out or [CheckResult("exporters", "OK", f"{len(s.exporters)} exporter(s) answered")]


def exporter_replication(s: ClusterState) -> list[CheckResult]:
    """What the exporters count, every topic included (internal ones too): offline partitions
    (the controllers' count: the largest one reported) FAIL, under-replicated ones (each broker
    counts those it leads: summed) WARN. Part of the ``replication`` check."""
    up = [b for b in s.exporters if b.up]
    out: list[CheckResult] = []
    offline = max((b.offline_partitions or 0 for b in up), default=0)
    if offline:
        out.append(
            CheckResult(
                "replication",
                "FAIL",
                f"the controllers count {offline} offline partition(s) (no leader: no reads or "
                "writes there; kafka_controller_offline_partitions)",
                "bring back the brokers holding them; `horizons topics describe NAME` shows "
                "their replicas",
            )
        )
    under = [(b.url, b.under_replicated) for b in up if b.under_replicated]
    if under:
        per = ", ".join(f"{url}: {n}" for url, n in under)
        out.append(
            CheckResult(
                "replication",
                "WARN",
                f"the brokers count {sum(n for _, n in under)} under-replicated partition(s) "
                f"they lead (kafka_server_under_replicated_partitions; {per})",
                "check the lagging brokers (disk, network); `horizons cluster status` shows "
                "the partitions per broker",
            )
        )
    return out


def check_handlers(s: ClusterState) -> list[CheckResult]:
    """The request handler threads' idle ratio per broker: below :data:`IDLE_WARN` WARN."""
    measured = [b for b in s.exporters if b.up and b.handler_idle_ratio is not None]
    if not measured:
        return [CheckResult("handlers", "SKIP", "no exporter reported the request handlers")]
    out = [
        CheckResult(
            "handlers",
            "WARN",
            f"{b.url}: request handler threads idle {b.handler_idle_ratio:.0%} of the last "
            f"minute (below {IDLE_WARN:.0%}): the broker is near saturation, requests queue",
            "raise num.io.threads on that broker or spread the load (more brokers, "
            "`horizons cluster rebalance`)",
        )
        for b in measured
        if b.handler_idle_ratio is not None and b.handler_idle_ratio < IDLE_WARN
    ]
    if out:
        return out
    least = min(b.handler_idle_ratio or 0.0 for b in measured)
    return [
        CheckResult(
            "handlers",
            "OK",
            f"request handlers idle {least:.0%} of the time at the least "
            f"({len(measured)} broker(s); WARN below {IDLE_WARN:.0%})",
        )
    ]
