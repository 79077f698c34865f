"""summarize_topic: one count of partitions, replicas (distinct brokers), under-replicated
and leaderless partitions, for every surface."""

from __future__ import annotations

from dataclasses import dataclass, field

from cosmic_horizons.topics import TopicSummary, summarize_topic


@dataclass
class Part:
    id: int
    leader: int
    replicas: list[int]
    isrs: list[int]


@dataclass
class Topic:
    partitions: dict[int, Part] = field(default_factory=dict)


def test_a_broker_listed_several_times_holds_one_replica() -> None:
    # Tansu with replication factor 3 on one broker: broker 0 listed three times, in sync.
    topic = Topic({p: Part(p, 0, [0, 0, 0], [0, 0, 0]) for p in range(3)})
    assert summarize_topic("t", topic) == TopicSummary(
        name="t", partitions=3, replication_factor=1, under_replicated=0, leaderless=0
    )


def test_weakest_partition_under_replicated_and_leaderless_count() -> None:
    topic = Topic(
        {
            0: Part(0, 1, [1, 2, 3], [1, 2, 3]),
            1: Part(1, 2, [1, 2, 3], [2]),  # under-replicated
            2: Part(2, -1, [2, 3], []),  # two replicas, no leader, none in sync
        }
    )
    assert summarize_topic("t", topic) == TopicSummary(
        name="t", partitions=3, replication_factor=2, under_replicated=2, leaderless=1
    )


def test_a_topic_without_partitions() -> None:
    assert summarize_topic("t", Topic()) == TopicSummary(
        name="t", partitions=0, replication_factor=0, under_replicated=0, leaderless=0
    )
