"""The cluster's checks: reachable, brokers registered, controller, advertised listeners,
the profile topic's layout, auto-creation, and replication (RF, min.insync, ISR, leaders).

Each is a pure function of a :class:`~.state.ClusterState` returning its verdicts.
"""

from __future__ import annotations

from ..topics.diff import diff_topic
from ..topics.models import dlq_topic_name
from .checks_exporters import exporter_replication
from .state import CheckResult, ClusterState

__all__ = [
    "check_auto_create",
    "check_brokers",
    "check_connect",
    "check_controller",
    "check_listeners",
    "check_replication",
    "check_topic",
]


def check_connect(s: ClusterState) -> list[CheckResult]:
    """The spec's "Metadata error on connect": does the bootstrap list answer at all?"""
    if s.error is not None:
        return [
            CheckResult(
                "connect",
                "FAIL",
                f"{s.bootstrap} did not answer: {s.error}",
                "check --bootstrap / KAFKA_BOOTSTRAP_SERVERS; `horizons check --wait 60s`; "
                "`horizons broker` starts a local one",
            )
        ]
    return [CheckResult("connect", "OK", f"{s.bootstrap} answered ({len(s.brokers)} broker(s))")]


def check_brokers(s: ClusterState) -> list[CheckResult]:
    """Every broker registered: none missing that holds replicas, and as many as expected."""
    registered = {b.id for b in s.brokers}
    holding = {r for t in s.topics.values() for p in t.partitions for r in p.replicas}
    missing = sorted(holding - registered)
    out: list[CheckResult] = []
    if missing:
        out.append(
            CheckResult(
                "brokers",
                "FAIL",
                f"broker(s) {', '.join(map(str, missing))} hold replicas but are not "
                f"registered (registered: {', '.join(map(str, sorted(registered))) or 'none'})",
                "start the missing broker(s) and check their logs; `horizons monitor` shows "
                "the partitions they lead",
            )
        )
    if s.expected_brokers is not None and len(registered) < s.expected_brokers:
        out.append(
            CheckResult(
                "brokers",
                "FAIL",
                f"{len(registered)} broker(s) registered, {s.expected_brokers} expected",
                "start the missing broker(s); check controller.quorum.voters and their logs",
            )
        )
    if not out:
        out.append(CheckResult("brokers", "OK", f"{len(registered)} broker(s) registered"))
    return out


def check_controller(s: ClusterState) -> list[CheckResult]:
    if s.controller_id is None:
        return [
            CheckResult(
                "controller",
                "FAIL",
                "no active controller: topic changes and leader elections cannot happen",
                "check the controller quorum (controller.quorum.voters) and that a majority "
                "of controllers runs",
            )
        ]
    return [CheckResult("controller", "OK", f"controller elected (broker {s.controller_id})")]


def check_listeners(s: ClusterState) -> list[CheckResult]:
    """Every advertised address resolves and accepts a connection from this host."""
    probed = [b for b in s.brokers if b.probed]
    if not probed:
        return [CheckResult("listeners", "SKIP", "no advertised address probed")]
    bad = [b for b in probed if b.connect_error is not None]
    out = [
        CheckResult(
            "listeners",
            "FAIL",
            f"broker {b.id} advertises {b.host}:{b.port}, which this host cannot reach "
            f"({b.connect_error}): clients bootstrap, then fail on every call to it",
            "set that broker's advertised.listeners to an address clients can reach "
            "(the spec's compose file advertised one the host could not resolve)",
        )
        for b in bad
    ]
    if not out:
        addresses = ", ".join(f"{b.host}:{b.port}" for b in probed)
        out.append(
            CheckResult("listeners", "OK", f"every advertised address connects: {addresses}")
        )
    return out


def check_topic(s: ClusterState) -> list[CheckResult]:
    """The spec's "Topic auto-creation fails": the profile topic exists with its layout."""
    actual = s.topics.get(s.topic)
    if actual is None:
        return [
            CheckResult(
                "topic",
                "FAIL",
                f"{s.topic} does not exist: producers fail (auto-creation is off for them)",
                f"horizons topics ensure -t {s.topic}",
            )
        ]
    diff = diff_topic(s.desired, actual)
    if diff.in_sync:
        return [CheckResult("topic", "OK", f"{s.topic} matches the profile's layout")]
    return [
        CheckResult(
            "topic",
            "WARN",
            f"{s.topic} differs from the profile: {'; '.join(diff.problems())}",
            f"horizons topics ensure -t {s.topic} --fix",
        )
    ]


def check_auto_create(s: ClusterState) -> list[CheckResult]:
    value = s.broker_configs.get("auto.create.topics.enable")
    if value is None:
        return [CheckResult("auto-create", "SKIP", "auto.create.topics.enable not reported")]
    if value.strip().lower() == "true":
        return [
            CheckResult(
                "auto-create",
                "WARN",
                "auto.create.topics.enable=true: a client asking for a mistyped topic creates "
                "it with the broker's defaults (horizons' producers never ask it to)",
                "set auto.create.topics.enable=false on the brokers; create topics with "
                "`horizons topics ensure`",
            )
        ]
    return [
        CheckResult(
            "auto-create",
            "OK",
            "auto.create.topics.enable=false: producing to a mistyped name fails clearly",
        )
    ]


def _min_insync(configs: dict[str, str]) -> int | None:
    value = configs.get("min.insync.replicas", "")
    return int(value) if value.strip().isdigit() else None


def check_replication(s: ClusterState) -> list[CheckResult]:
    """RF vs brokers, min.insync.replicas vs RF, under-replicated and offline partitions (from
    metadata, and from the brokers' exporters where configured)."""
    out: list[CheckResult] = []
    brokers = len(s.brokers)
    # The data plane's topics (a shared cluster's other topics are not this doctor's).
    for name in sorted({s.topic, dlq_topic_name(s.topic)} & set(s.topics)):
        t = s.topics[name]
        if not t.partitions:
            continue
        rf = t.replication_factor
        offline = [p.id for p in t.partitions if p.leader is None]
        under = list(t.under_replicated)
        min_isr = _min_insync(dict(t.configs))
        if offline:
            out.append(
                CheckResult(
                    "replication",
                    "FAIL",
                    f"{name}: partition(s) {_ids(offline)} offline (no leader): "
                    "no reads or writes there",
                    "bring back the brokers holding them; `horizons topics describe "
                    f"{name}` shows their replicas",
                )
            )
        if rf > brokers:
            out.append(
                CheckResult(
                    "replication",
                    "FAIL",
                    f"{name}: replication factor {rf} on {brokers} broker(s)",
                    "start the missing brokers or reassign the partitions "
                    "(kafka-reassign-partitions.sh)",
                )
            )
        if min_isr is not None and min_isr > rf:
            out.append(
                CheckResult(
                    "replication",
                    "FAIL",
                    f"{name}: min.insync.replicas={min_isr} above replication factor {rf}: "
                    "every acks=all write fails",
                    f"kafka-configs.sh --alter --entity-type topics --entity-name {name} "
                    f"--add-config min.insync.replicas={rf}",
                )
            )
        elif min_isr is not None and rf > 1 and min_isr >= rf:
            out.append(
                CheckResult(
                    "replication",
                    "WARN",
                    f"{name}: min.insync.replicas={min_isr} with replication factor {rf}: "
                    "one broker down stops acks=all writes",
                    f"raise the replication factor to {min_isr + 1} or lower "
                    f"min.insync.replicas to {rf - 1}",
                )
            )
        if under and not offline:
            out.append(
                CheckResult(
                    "replication",
                    "WARN",
                    f"{name}: partition(s) {_ids(under)} under-replicated (ISR smaller than "
                    "the replicas)",
                    "check the lagging brokers (disk, network); `horizons topics describe "
                    f"{name}` shows the ISR",
                )
            )
    out.extend(exporter_replication(s))
    if not out:
        agree = " (the brokers' exporters agree)" if any(b.up for b in s.exporters) else ""
        out.append(
            CheckResult(
                "replication",
                "OK",
                f"{len(s.topics)} topic(s): every partition led and in sync, min.insync "
                f"below the replication factor{agree}",
            )
        )
    return out


def _ids(ids: list[int]) -> str:
    return ",".join(map(str, ids))
