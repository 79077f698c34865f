"""The one summary of a topic's metadata that every surface shows.

``horizons topics list``, ``/api/topics`` and the monitor's snapshot all count a topic's
partitions, replication factor and under-replicated partitions through :func:`summarize_topic`,
so they agree. A replica is counted per distinct broker: some brokers (Tansu) list the same
broker several times for a replication factor above one, and a broker listed twice holds one
copy.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .diff import PartitionPlacement, TopicState

__all__ = ["TopicSummary", "partition_states", "summarize_topic"]


class TopicSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A topic in one line: partitions, replication factor, under-replicated and leaderless.

    ``replication_factor`` is the smallest count of distinct replica brokers over the
    partitions (the weakest partition counts); a partition is under-replicated when fewer
    distinct brokers are in sync than hold a replica, leaderless when it has no leader.
    """

    name: str
    partitions: int
    replication_factor: int
    under_replicated: int
    leaderless: int = 0


def partition_states(topic: Any) -> tuple[PartitionPlacement, ...]:
    """The partitions of a confluent-kafka ``TopicMetadata``, by id."""
    return tuple(
        PartitionPlacement(
            id=p.id,
            leader=p.leader if p.leader >= 0 else None,
            replicas=tuple(p.replicas),
            isr=tuple(p.isrs),
        )
        for _, p in sorted(topic.partitions.items())
    )


def summarize_topic(name: str, topic: Any) -> TopicSummary:
    """The summary of ``topic`` (a confluent-kafka ``TopicMetadata``) named ``name``."""
    state = TopicState(name=name, partitions=partition_states(topic))
    return TopicSummary(
        name=name,
        partitions=state.partition_count,
        replication_factor=state.replication_factor,
        under_replicated=len(state.under_replicated),
        leaderless=sum(1 for p in state.partitions if p.leader is None),
    )
