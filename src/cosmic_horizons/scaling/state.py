"""What the cluster looks like now: brokers, replicas, leaders, sizes, reassignments.

Metadata and DescribeCluster come from confluent-kafka (the project's admin connection);
replica sizes, reassignments in progress and the active controller from kafka-python
(:mod:`.kpadmin`), which has those calls.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..cluster import make_admin
from ..config import KafkaSettings
from ..errors import UnsupportedByBrokerError, kafka_errors
from ..topics.usage import describe_log_dirs
from .kpadmin import kafka_python_admin, kp_errors
from .models import Broker, Layout, PartitionLayout
from .planner import leader_counts, replica_counts

__all__ = [
    "BrokerLoad",
    "ClusterStatus",
    "ClusterView",
    "Reassigning",
    "cluster_status",
    "read_cluster",
]


class Reassigning(msgspec.Struct, frozen=True, kw_only=True):
    """One partition being reassigned; ``copied`` is the share of its bytes the adding
    replicas hold so far (None when its size is unknown)."""

    topic: str
    partition: int
    replicas: tuple[int, ...]
    adding: tuple[int, ...]
    removing: tuple[int, ...]
    copied: float | None = None


class BrokerLoad(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    host: str
    port: int
    rack: str | None = None
    replicas: int = 0
    leaders: int = 0
    bytes: int = 0


class ClusterStatus(msgspec.Struct, frozen=True, kw_only=True):
    """``horizons cluster status``: skews are max minus min over the brokers."""

    bootstrap: str
    cluster_id: str | None
    controller_id: int | None
    brokers: list[BrokerLoad]
    partitions: int
    replicas: int
    replica_skew: int
    leader_skew: int
    balanced: bool
    under_replicated: int
    reassignments: list[Reassigning]


class ClusterView(msgspec.Struct, frozen=True, kw_only=True):
    layout: Layout
    hosts: dict[int, tuple[str, int]]
    cluster_id: str | None
    controller_id: int | None
    reassigning: dict[tuple[str, int], dict[str, list[int]]]
    replica_bytes: dict[tuple[str, int, int], int]


def _controller(kp: Any, target: str) -> int | None:
    """The KRaft quorum leader; None where the broker has no DescribeQuorum (not KRaft)."""
    try:
        with kp_errors("DescribeQuorum", target):
            quorum = kp.describe_metadata_quorum()
    except UnsupportedByBrokerError:
        return None
    for topic in quorum.get("topics", []):
        for part in topic.get("partitions", []):
            leader = part.get("leader_id")
            if isinstance(leader, int) and leader >= 0:
                return leader
    return None


def read_cluster(settings: KafkaSettings, *, timeout: float = 10.0) -> ClusterView:
    """One look at the cluster (every topic, internal ones included)."""
    bootstrap = settings.require_bootstrap()
    admin = make_admin(settings, timeout_ms=int(timeout * 1000))
    with kafka_errors("DescribeCluster", bootstrap, client=admin, bootstrap=bootstrap):
        described = admin.describe_cluster(request_timeout=timeout).result(timeout + 1)
    with kafka_errors("Metadata", bootstrap, client=admin, bootstrap=bootstrap):
        metadata = admin.list_topics(timeout=timeout)
    usage = describe_log_dirs(settings, timeout_s=timeout)
    sizes: dict[tuple[str, int, int], int] = {}
    for r in usage.current():
        key = (r.topic, r.partition, r.broker)
        sizes[key] = sizes.get(key, 0) + r.size_bytes
    kp = kafka_python_admin(settings, timeout=timeout)
    try:
        with kp_errors("ListPartitionReassignments", bootstrap):
            moving = kp.list_partition_reassignments()
        controller = _controller(kp, bootstrap)
    finally:
        kp.close()
    largest = usage.partition_bytes()
    partitions = tuple(
        PartitionLayout(
            topic=name,
            partition=pid,
            replicas=tuple(p.replicas),
            leader=p.leader if p.leader >= 0 else None,
            isr=tuple(p.isrs),
            size=largest.get((name, pid), 0),
        )
        for name, topic in sorted(metadata.topics.items())
        for pid, p in sorted(topic.partitions.items())
    )
    brokers = tuple(sorted((Broker(n.id, n.rack or None) for n in described.nodes), key=_id))
    return ClusterView(
        layout=Layout(brokers=brokers, partitions=partitions),
        hosts={n.id: (n.host, n.port) for n in described.nodes},
        cluster_id=described.cluster_id,
        controller_id=controller,
        reassigning={(tp.topic, tp.partition): info for tp, info in moving.items()},
        replica_bytes=sizes,
    )


def _id(broker: Broker) -> int:
    return broker.id


def _progress(view: ClusterView, key: tuple[str, int], adding: list[int]) -> float | None:
    topic, partition = key
    sizes = view.replica_bytes
    full = max((s for (t, p, _), s in sizes.items() if (t, p) == key), default=0)
    if not adding or full == 0:
        return None
    have = [sizes.get((topic, partition, b), 0) for b in adding]
    return round(min(1.0, min(have) / full), 4)


def cluster_status(view: ClusterView, bootstrap: str) -> ClusterStatus:
    """Counts per broker, skews and reassignments in progress."""
    ids = [b.id for b in view.layout.brokers]
    assignment = [p.replicas for p in view.layout.partitions]
    replicas = replica_counts(assignment, ids)
    leaders = dict.fromkeys(ids, 0)
    for p in view.layout.partitions:
        if p.leader is not None:
            leaders[p.leader] = leaders.get(p.leader, 0) + 1
    on_disk = dict.fromkeys(ids, 0)
    for (_, _, b), size in view.replica_bytes.items():
        on_disk[b] = on_disk.get(b, 0) + size
    loads = [
        BrokerLoad(
            id=b.id,
            host=view.hosts.get(b.id, ("", 0))[0],
            port=view.hosts.get(b.id, ("", 0))[1],
            rack=b.rack,
            replicas=replicas.get(b.id, 0),
            leaders=leaders.get(b.id, 0),
            bytes=on_disk.get(b.id, 0),
        )
        for b in view.layout.brokers
    ]
    replica_skew = max(replicas.values(), default=0) - min(replicas.values(), default=0)
    leader_skew = max(leaders.values(), default=0) - min(leaders.values(), default=0)
    preferred = leader_counts(assignment, ids)
    preferred_skew = max(preferred.values(), default=0) - min(preferred.values(), default=0)
    moving = [
        Reassigning(
            topic=key[0],
            partition=key[1],
            replicas=tuple(info["replicas"]),
            adding=tuple(info["adding_replicas"]),
            removing=tuple(info["removing_replicas"]),
            copied=_progress(view, key, info["adding_replicas"]),
        )
        for key, info in sorted(view.reassigning.items())
    ]
    return ClusterStatus(
        bootstrap=bootstrap,
        cluster_id=view.cluster_id,
        controller_id=view.controller_id,
        brokers=loads,
        partitions=len(view.layout.partitions),
        replicas=sum(replicas.values()),
        replica_skew=replica_skew,
        leader_skew=leader_skew,
        balanced=replica_skew <= 1 and max(leader_skew, preferred_skew) <= 1,
        under_replicated=sum(len(p.isr) < len(p.replicas) for p in view.layout.partitions),
        reassignments=moving,
    )
