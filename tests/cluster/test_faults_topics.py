"""``horizons topics`` on three nodes: the prod layout for real (RF 3, min ISR 2), partitions
grown through CreatePartitions, and ``describe`` agreeing with the cluster's own metadata."""

from __future__ import annotations

from confluent_kafka import TopicCollection
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from tests.cluster.faults import create_topic, horizons, horizons_json, isr_of, unique_name


def cluster_view(bootstrap: str, topic: str) -> dict[int, tuple[int | None, list[int], list[int]]]:
    """{partition: (leader, replicas, isr)} from DescribeTopics, checked against Metadata."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    [future] = admin.describe_topics(TopicCollection([topic])).values()
    described = {
        p.id: (p.leader.id if p.leader is not None else None,
               sorted(n.id for n in p.replicas), sorted(n.id for n in p.isr))
        for p in future.result(20).partitions
    }  # fmt: skip
    assert described == isr_of(bootstrap, topic), "DescribeTopics and Metadata disagree"
    return described


def topic_config(bootstrap: str, topic: str, key: str) -> str:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    [future] = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)]).values()
    return str(future.result(20)[key].value)


def test_ensure_prod_creates_three_partitions_rf3_min_isr_2(cluster_bootstrap: str) -> None:
    topic = unique_name("ensure-prod")
    code, [result] = horizons_json(
        "topics", "ensure", "--profile", "prod", "-b", cluster_bootstrap, "-t", topic
    )
    assert code == 0, result["problems"]
    assert result["created"] and result["in_sync"] and result["problems"] == []
    view = cluster_view(cluster_bootstrap, topic)
    assert sorted(view) == [0, 1, 2]
    assert all(replicas == [1, 2, 3] and isr == [1, 2, 3] for _, replicas, isr in view.values())
    assert len({leader for leader, _, _ in view.values()}) == 3, f"leaders not spread: {view}"
    assert topic_config(cluster_bootstrap, topic, "min.insync.replicas") == "2"

    # A second ensure finds it in sync (exit 0), nothing created.
    code, [again] = horizons_json(
        "topics", "ensure", "--profile", "prod", "-b", cluster_bootstrap, "-t", topic
    )
    assert (code, again["created"], again["in_sync"]) == (0, False, True)


def test_fix_grows_partitions_through_create_partitions(cluster_bootstrap: str) -> None:
    topic = unique_name("grow")
    create_topic(cluster_bootstrap, topic, partitions=1, replication=3)
    code, [drift] = horizons_json(
        "topics", "ensure", "--profile", "prod", "-b", cluster_bootstrap, "-t", topic
    )
    assert code == 1
    assert any(p.startswith("partitions: 1, desired 3") for p in drift["problems"]), drift
    assert len(cluster_view(cluster_bootstrap, topic)) == 1  # reported, not changed

    code, [fixed] = horizons_json(
        "topics", "ensure", "--profile", "prod", "--fix", "-b", cluster_bootstrap, "-t", topic
    )
    assert code == 0, fixed["problems"]
    assert fixed["in_sync"], fixed
    assert any("partitions" in a for a in fixed["applied"]), fixed["applied"]
    view = cluster_view(cluster_bootstrap, topic)
    assert sorted(view) == [0, 1, 2]
    assert all(replicas == [1, 2, 3] for _, replicas, _ in view.values())
    assert topic_config(cluster_bootstrap, topic, "min.insync.replicas") == "2"


def test_describe_json_matches_the_cluster_metadata(cluster_bootstrap: str) -> None:
    topic = unique_name("describe")
    assert horizons("topics", "ensure", "--profile", "prod", "-b", cluster_bootstrap,
                    "-t", topic).returncode == 0  # fmt: skip
    code, state = horizons_json("topics", "describe", topic, "-b", cluster_bootstrap)
    assert code == 0
    shown = {p["id"]: (p["leader"], sorted(p["replicas"]), sorted(p["isr"]))
             for p in state["partitions"]}  # fmt: skip
    assert shown == cluster_view(cluster_bootstrap, topic)
    assert (state["partition_count"], state["replication_factor"]) == (3, 3)
    assert state["under_replicated"] == []
    assert state["configs"]["min.insync.replicas"] == "2"
