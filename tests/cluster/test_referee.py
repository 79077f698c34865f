"""Kafka's own tools as the referee: ``horizons`` must report what they print.

On the three-node cluster, each test runs the spec's command (``kafka-topics.sh``,
``kafka-configs.sh``, ``kafka-consumer-groups.sh``, ``kafka-broker-api-versions.sh``,
``kafka-cluster.sh``, ``kafka-metadata-quorum.sh``: the same main classes, from the jars the
cluster runs on; see :mod:`tests.cluster.kafka_tools`) and compares its text output, value by
value, with the ``--json`` output of the ``horizons`` command that replaces it.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from typer.testing import CliRunner

from cosmic_horizons.cli.exits import Exit
from cosmic_horizons.cli.main import app
from cosmic_horizons.kafka_local import LocalKafkaCluster
from tests.cluster import kafka_tools as kt

runner = CliRunner()


def horizons(*args: str) -> tuple[int, Any]:
    """Run ``horizons ARGS`` in this process; its exit code and its stdout parsed as JSON."""
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.stdout.strip(), f"horizons {' '.join(args)} printed nothing: {result.output}"
    return result.exit_code, json.loads(result.stdout)


def ensure_prod_topic(bootstrap: str, topic: str) -> None:
    """The spec's prod layout: 3 partitions, 3 replicas, min.insync.replicas=2."""
    result = runner.invoke(app, ["topics", "ensure", "-b", bootstrap, "-t", topic, "-p", "prod"])
    assert result.exit_code == 0, result.output


def produce_to(bootstrap: str, topic: str, counts: dict[int, int]) -> None:
    """``counts[p]`` records into partition ``p`` (acks=all), all delivered."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    failed: list[str] = []
    for partition, count in counts.items():
        for i in range(count):
            producer.produce(
                topic,
                f"record {i}".encode(),
                partition=partition,
                on_delivery=lambda err, _m: failed.append(str(err)) if err else None,
            )
    assert producer.flush(30) == 0
    assert not failed, failed


def test_topics_describe_reports_what_kafka_topics_and_kafka_configs_print(
    cluster_bootstrap: str, topic_name: str
) -> None:
    ensure_prod_topic(cluster_bootstrap, topic_name)
    code, mine = horizons("topics", "describe", topic_name, "-b", cluster_bootstrap, "--json")
    assert code == 0
    with ThreadPoolExecutor(2) as pool:
        describe_future = pool.submit(kt.topics_describe, cluster_bootstrap, topic_name)
        configs_future = pool.submit(kt.topic_configs, cluster_bootstrap, topic_name)
        described, configs = describe_future.result(), configs_future.result()

    assert mine["name"] == described.name == topic_name
    assert mine["partition_count"] == described.partition_count == 3
    assert mine["replication_factor"] == described.replication_factor == 3
    ours = [(p["id"], p["leader"], p["replicas"], sorted(p["isr"])) for p in mine["partitions"]]
    theirs = [
        (p.partition, p.leader, list(p.replicas), sorted(p.isr)) for p in described.partitions
    ]
    assert ours == theirs
    assert {p["leader"] for p in mine["partitions"]} <= {1, 2, 3}
    assert mine["under_replicated"] == []

    # Every value horizons shows is the one kafka-configs --all prints, and horizons leaves
    # out only what the tool prints as null (sensitive or unset).
    assert mine["configs"] == {k: v for k, v in configs.items() if v is not None}
    # The topic's own overrides (kafka-topics' Configs:) include the prod profile's.
    for key, value in described.configs.items():
        assert mine["configs"][key] == value, key
    assert described.configs["min.insync.replicas"] == "2"
    assert described.configs["retention.ms"] == "604800000"


def test_lag_reports_what_kafka_consumer_groups_prints(
    cluster_bootstrap: str, topic_name: str
) -> None:
    ensure_prod_topic(cluster_bootstrap, topic_name)
    produce_to(cluster_bootstrap, topic_name, {0: 12, 1: 7, 2: 20})
    group = f"referee-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(
        {
            "bootstrap.servers": cluster_bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        # Read part of each partition, then commit how far it got: 5 of 12, all 7, none of 20.
        consumer.assign([TopicPartition(topic_name, p, 0) for p in (0, 1, 2)])
        want = {0: 5, 1: 7, 2: 0}
        got = {p: 0 for p in want}
        deadline = time.monotonic() + 60
        while any(got[p] < n for p, n in want.items()):
            assert time.monotonic() < deadline, f"read {got} of {want} within 60 s"
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            p = msg.partition()
            assert p is not None
            if got[p] < want[p]:
                got[p] += 1
        commit = [TopicPartition(topic_name, p, n) for p, n in want.items()]
        consumer.commit(offsets=commit, asynchronous=False)
    finally:
        consumer.close()

    code, groups = horizons(
        "lag", "--group", group, "--json", "--samples", "1", "-b", cluster_bootstrap
    )
    [mine] = groups
    assert mine["group"] == group
    ours = {
        p["partition"]: (p["committed"], p["highWatermark"], p["lag"])
        for p in mine["partitions"]
        if p["topic"] == topic_name
    }
    rows = kt.consumer_group_describe(cluster_bootstrap, group)
    theirs = {r.partition: (r.current_offset, r.log_end_offset, r.lag) for r in rows}
    assert ours == theirs == {0: (5, 12, 7), 1: (7, 7, 0), 2: (0, 20, 20)}
    assert all(r.topic == topic_name and r.consumer_id is None for r in rows)
    assert mine["totalLag"] == sum(r.lag or 0 for r in rows) == 27
    assert mine["maxLag"] == 20
    assert code == Exit.UNKNOWN  # lag seen in one sample: no trend yet, not judged OK


def test_check_reports_the_brokers_and_cluster_id_the_tools_print(
    all_nodes_up: LocalKafkaCluster,
) -> None:
    bootstrap = all_nodes_up.bootstrap
    with ThreadPoolExecutor(3) as pool:  # three JVMs at once: a third of the wait
        api_future = pool.submit(kt.broker_api_versions, bootstrap)
        id_future = pool.submit(kt.cluster_id, bootstrap)
        quorum_future = pool.submit(kt.quorum_status, bootstrap)
        api_versions, cluster_id, quorum = (
            api_future.result(),
            id_future.result(),
            quorum_future.result(),
        )
    assert cluster_id == quorum["ClusterId"] == all_nodes_up.cluster_id
    leader = int(quorum["LeaderId"])
    assert sorted(api_versions) == [1, 2, 3]

    # Each check is a fresh connection: a broker naming a random node as "controller" (as
    # KRaft brokers do in Metadata responses) would show within a few checks.
    for _ in range(6):
        code, mine = horizons("check", "--json", "-b", bootstrap)
        assert code == 0 and mine["reachable"] is True
        assert mine["cluster_id"] == cluster_id
        assert {b["id"]: (b["host"], b["port"]) for b in mine["brokers"]} == api_versions
        # The active controller only the metadata quorum knows: horizons names it or no one.
        assert mine["controller_id"] in (None, leader), (mine["controller_id"], quorum)
    # The monitor's snapshot (the API and dashboard show it) names the same brokers.
    for _ in range(6):
        _code, snapshot = horizons("monitor", "--json", "-b", bootstrap, "-t", "referee.none")
        assert snapshot["connected"] is True and snapshot["clusterId"] == cluster_id
        assert {b["id"]: (b["host"], b["port"]) for b in snapshot["brokers"]} == api_versions
        assert snapshot["controllerId"] in (None, leader), (snapshot["controllerId"], quorum)


def test_topics_list_reports_what_kafka_topics_lists(
    cluster_bootstrap: str, topic_name: str
) -> None:
    ensure_prod_topic(cluster_bootstrap, topic_name)
    names = kt.topics_list(cluster_bootstrap)
    assert topic_name in names
    code, mine = horizons("topics", "list", "--json", "-b", cluster_bootstrap)
    assert code == 0
    assert [t["name"] for t in mine] == [n for n in names if not n.startswith("__")]
    code, everything = horizons("topics", "list", "--internal", "--json", "-b", cluster_bootstrap)
    assert code == 0
    assert [t["name"] for t in everything] == names
    assert "__consumer_offsets" in names
    ours = next(t for t in mine if t["name"] == topic_name)
    assert (ours["partitions"], ours["replication_factor"], ours["under_replicated"]) == (3, 3, 0)
