"""Carrying out a plan: the replication throttle, AlterPartitionReassignments, waiting for
the copies, preferred-leader election, and cancelling.

The throttle is Kafka's own: ``leader/follower.replication.throttled.rate`` on the brokers
and ``leader/follower.replication.throttled.replicas`` on the moving topics (the existing
replicas lead, the new ones follow), removed when the reassignment is done or cancelled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from confluent_kafka import ElectionType, KafkaException, TopicPartition

# confluent_kafka.admin re-exports these without listing them in __all__.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from ..cluster import make_admin
from ..config import KafkaSettings
from ..errors import BrokerError, kafka_errors
from .kpadmin import kafka_python_admin, kp_errors
from .models import Plan
from .planner import PlanRefusedError

__all__ = [
    "BROKER_THROTTLES",
    "TOPIC_THROTTLES",
    "ExecuteResult",
    "cancel_reassignments",
    "clear_throttle",
    "execute_plan",
    "in_progress",
]

log = logging.getLogger(__name__)

BROKER_THROTTLES = ("leader.replication.throttled.rate", "follower.replication.throttled.rate")
TOPIC_THROTTLES = (
    "leader.replication.throttled.replicas",
    "follower.replication.throttled.replicas",
)


class ExecuteResult(msgspec.Struct, kw_only=True):
    """What ``--execute`` did: ``completed`` when every partition has its planned replicas."""

    submitted: int
    moved_bytes: int
    throttle: int | None
    completed: bool
    seconds: float
    leaders_elected: int = 0
    throttle_removed: bool = False
    remaining: list[str] = []


def _kp_tp(topic: str, partition: int) -> Any:
    from kafka import TopicPartition as KpTopicPartition

    return KpTopicPartition(topic, partition)


def _alter(
    admin: AdminClient, resources: list[ConfigResource], target: str, timeout: float
) -> None:
    """Incremental alters: the topics in one request, each broker in one of its own (a
    request may name one broker only)."""
    topics = [r for r in resources if r.restype == ResourceType.TOPIC]
    batches = [[r] for r in resources if r.restype != ResourceType.TOPIC]
    for batch in ([topics] if topics else []) + batches:
        with kafka_errors("IncrementalAlterConfigs", target, client=admin):
            for future in admin.incremental_alter_configs(batch, request_timeout=timeout).values():
                future.result(timeout + 1)


def _entries(keys: Iterable[str], value: str, op: AlterConfigOpType) -> list[ConfigEntry]:
    return [ConfigEntry(k, value, incremental_operation=op) for k in keys]


def _on_brokers(brokers: Iterable[int], value: str, op: AlterConfigOpType) -> list[ConfigResource]:
    """The broker throttle configs set to ``value`` (or deleted) on each of ``brokers``."""
    return [
        ConfigResource(
            ResourceType.BROKER, str(b), incremental_configs=_entries(BROKER_THROTTLES, value, op)
        )
        for b in sorted(brokers)
    ]


def set_throttle(
    admin: AdminClient, plan: Plan, rate: int, brokers: Iterable[int], timeout: float
) -> None:
    """The throttle for ``plan``'s copies at ``rate`` bytes/s on every broker of ``brokers``."""
    set_op = AlterConfigOpType.SET
    resources = _on_brokers(brokers, str(rate), set_op)
    by_topic: dict[str, tuple[list[str], list[str]]] = {}
    for m in plan.moves:
        leaders, followers = by_topic.setdefault(m.topic, ([], []))
        leaders += [f"{m.partition}:{b}" for b in m.before]
        followers += [f"{m.partition}:{b}" for b in m.adding]
    for topic, (leaders, followers) in sorted(by_topic.items()):
        entries = [ConfigEntry(TOPIC_THROTTLES[0], ",".join(leaders), incremental_operation=set_op)]
        if followers:
            entries.append(
                ConfigEntry(TOPIC_THROTTLES[1], ",".join(followers), incremental_operation=set_op)
            )
        resources.append(ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries))
    _alter(admin, resources, "the throttle", timeout)
    _await_rate(admin, brokers, str(rate), timeout)


def _await_rate(admin: AdminClient, brokers: Iterable[int], rate: str, timeout: float) -> None:
    """Wait (up to ``timeout``) until each broker itself reports the throttle rate: a dynamic
    broker config reaches the brokers through the metadata log, and a copy that starts before
    it does runs unthrottled (3 MB partitions were seen to finish at "1KB/s")."""
    waiting = sorted(set(brokers))
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        waiting = [b for b in waiting if not _has_rate(admin, b, rate, timeout)]
        if waiting:
            time.sleep(0.1)
    if waiting:
        log.warning(
            "the throttle is not in effect on broker(s) %s yet; submitting anyway",
            ", ".join(map(str, waiting)),
        )


def _has_rate(admin: AdminClient, broker: int, rate: str, timeout: float) -> bool:
    """Does ``broker`` report both throttle rates as ``rate``? (One broker per request.)"""
    resource = ConfigResource(ResourceType.BROKER, str(broker))
    with kafka_errors("DescribeConfigs", f"broker {broker}", client=admin):
        entries = admin.describe_configs([resource], request_timeout=timeout)[resource]
        found = entries.result(timeout + 1)
    return all(k in found and found[k].value == rate for k in BROKER_THROTTLES)


def throttled_topics(admin: AdminClient, topics: Iterable[str], timeout: float) -> list[str]:
    """The topics of ``topics`` that have a replica throttle set."""
    resources = [ConfigResource(ResourceType.TOPIC, t) for t in sorted(topics)]
    if not resources:
        return []
    found = []
    with kafka_errors("DescribeConfigs", "topics", client=admin):
        for resource, future in admin.describe_configs(resources, request_timeout=timeout).items():
            entries = future.result(timeout + 1)
            if any(entries.get(k) is not None and entries[k].value for k in TOPIC_THROTTLES):
                found.append(str(resource.name))
    return found


def clear_throttle(
    admin: AdminClient, topics: Iterable[str], brokers: Iterable[int], timeout: float
) -> None:
    """Delete the throttle configs from ``topics`` and ``brokers``."""
    delete = AlterConfigOpType.DELETE
    resources = _on_brokers(brokers, "", delete)
    resources += [
        ConfigResource(
            ResourceType.TOPIC, t, incremental_configs=_entries(TOPIC_THROTTLES, "", delete)
        )
        for t in sorted(set(topics))
    ]
    _alter(admin, resources, "the throttle", timeout)


def in_progress(kp: Any, target: str) -> set[tuple[str, int]]:
    with kp_errors("ListPartitionReassignments", target):
        return {(tp.topic, tp.partition) for tp in kp.list_partition_reassignments()}


def elect_preferred(
    admin: AdminClient, partitions: Iterable[tuple[str, int]], timeout: float
) -> int:
    """Preferred-leader election for ``partitions``; how many changed leader."""
    tps = [TopicPartition(t, p) for t, p in sorted(set(partitions))]
    if not tps:
        return 0
    try:
        # No request_timeout: confluent-kafka 2.16's elect_leaders fails on any keyword.
        answers = admin.elect_leaders(ElectionType.PREFERRED, tps).result(timeout + 1)
    except KafkaException:
        return 0  # ELECTION_NOT_NEEDED for all of them, or retried by the broker later
    return sum(1 for err in answers.values() if err is None)


def execute_plan(
    settings: KafkaSettings,
    plan: Plan,
    *,
    throttle: int | None,
    wait: bool = True,
    timeout: float = 600.0,
    on_progress: Callable[[set[tuple[str, int]]], None] | None = None,
    request_timeout: float = 15.0,
) -> ExecuteResult:
    """Throttle, submit, and (``wait``) wait for the copies, then remove the throttle and
    elect the preferred leaders. Refuses (:class:`PlanRefusedError`) while any partition of
    the plan is being reassigned already."""
    target = settings.require_bootstrap()
    started = time.monotonic()
    keys = {(m.topic, m.partition) for m in plan.moves}
    admin = make_admin(settings, timeout_ms=int(request_timeout * 1000))
    kp = kafka_python_admin(settings, timeout=request_timeout)
    try:
        busy = sorted(in_progress(kp, target) & keys)
        if busy:
            raise PlanRefusedError(
                f"{len(busy)} partition(s) of the plan are being reassigned already "
                f"(first {busy[0][0]}[{busy[0][1]}]): wait, or run --cancel first"
            )
        brokers = {b for m in plan.moves for b in (*m.before, *m.after)}
        if throttle is not None and plan.moves:
            set_throttle(admin, plan, throttle, brokers, request_timeout)
        with kp_errors("AlterPartitionReassignments", target):
            answers = kp.alter_partition_reassignments(
                {_kp_tp(m.topic, m.partition): list(m.after) for m in plan.moves}
            )
        failed = {
            f"{tp.topic}[{tp.partition}]: {err.__name__}" for tp, err in answers.items() if err
        }
        if failed:
            raise BrokerError(
                f"AlterPartitionReassignments refused {len(failed)} partition(s): "
                + "; ".join(sorted(failed)[:5])
            )
        result = ExecuteResult(
            submitted=len(plan.moves),
            moved_bytes=plan.moved_bytes,
            throttle=throttle,
            completed=False,
            seconds=0.0,
        )
        if not wait:
            result.seconds = round(time.monotonic() - started, 2)
            return result
        remaining = _wait(kp, target, keys, started + timeout, on_progress)
        result.completed = not remaining
        result.remaining = [f"{t}[{p}]" for t, p in sorted(remaining)]
        if result.completed:
            result.leaders_elected = elect_preferred(admin, keys, request_timeout)
            if throttle is not None:
                clear_throttle(admin, {m.topic for m in plan.moves}, brokers, request_timeout)
                result.throttle_removed = True
        result.seconds = round(time.monotonic() - started, 2)
        return result
    finally:
        kp.close()


def _wait(
    kp: Any,
    target: str,
    keys: set[tuple[str, int]],
    deadline: float,
    on_progress: Callable[[set[tuple[str, int]]], None] | None,
) -> set[tuple[str, int]]:
    while True:
        remaining = in_progress(kp, target) & keys
        if on_progress is not None:
            on_progress(remaining)
        if not remaining or time.monotonic() > deadline:
            return remaining
        time.sleep(0.5)


def cancel_reassignments(settings: KafkaSettings, *, request_timeout: float = 15.0) -> list[str]:
    """Cancel every reassignment in progress and remove the throttle; the partitions."""
    target = settings.require_bootstrap()
    admin = make_admin(settings, timeout_ms=int(request_timeout * 1000))
    kp = kafka_python_admin(settings, timeout=request_timeout)
    try:
        moving = sorted(in_progress(kp, target))
        if moving:
            with kp_errors("AlterPartitionReassignments", target):
                kp.alter_partition_reassignments({_kp_tp(t, p): None for t, p in moving})
        with kp_errors("DescribeCluster", target):
            brokers = [int(b["broker_id"]) for b in kp.describe_cluster()["brokers"]]
        topics = {t for t, _ in moving}
        with kafka_errors("Metadata", target, client=admin):
            names = admin.list_topics(timeout=request_timeout).topics
        topics |= set(throttled_topics(admin, names, request_timeout))
        clear_throttle(admin, topics, brokers, request_timeout)
    finally:
        kp.close()
    return [f"{t}[{p}]" for t, p in moving]
