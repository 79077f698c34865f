"""The local Kafka cluster module against real Apache Kafka JVMs (not the session broker)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from cosmic_horizons.kafka_local import LocalKafkaCluster
from tests.conftest import start_kafka
from tests.engines import only_kafka
from tests.helpers import consume_all


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for value in values:
        producer.produce(topic, value=value, partition=0)
    assert producer.flush(30) == 0


def create(bootstrap: str, topic: str, replicas: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, replicas)])[topic].result(30)


@only_kafka("it starts Kafka JVMs of its own")
def test_one_node_keeps_its_log_across_restarts_and_comes_back_on_the_same_ports(
    tmp_path: Path,
) -> None:
    cluster = start_kafka(tmp_path / "kafka")
    try:
        assert cluster.registered() == {1}
        create(cluster.bootstrap, "keep", 1)
        produce(cluster.bootstrap, "keep", [b"a", b"b", b"c"])
        assert cluster.leader_of("keep", 0) == 1

        cluster.restart(1)  # SIGTERM, start again
        produce(cluster.bootstrap, "keep", [b"d"])
        cluster.restart(1, hard=True)  # SIGKILL: the log survives a crash too
        assert [m.value() for m in consume_all(cluster.bootstrap, "keep", 4)] == [
            b"a", b"b", b"c", b"d",
        ]  # fmt: skip

        cluster.pause(1)
        assert cluster.registered(timeout=1.0) == set()  # a stopped JVM answers nothing
        cluster.resume(1)
        cluster.wait_ready(timeout=30)
    finally:
        cluster.stop()
    assert not cluster.running(1)

    state = json.loads((tmp_path / "kafka" / "cluster.json").read_text())
    again = LocalKafkaCluster(tmp_path / "kafka", 1)
    assert again.cluster_id == state["cluster_id"]
    assert again.bootstrap == cluster.bootstrap
    with again:
        assert [m.value() for m in consume_all(again.bootstrap, "keep", 4)] == [
            b"a", b"b", b"c", b"d",
        ]  # fmt: skip
    assert (tmp_path / "kafka" / "node-1" / "kafka.log").stat().st_size > 0


@only_kafka("it starts Kafka JVMs of its own")
def test_three_nodes_start_and_elect_a_new_leader_when_the_leader_is_killed(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    cluster = start_kafka(tmp_path / "kafka", nodes=3)
    try:
        assert time.monotonic() - started < 60
        assert cluster.registered() == {1, 2, 3}
        create(cluster.bootstrap, "replicated", 3)
        produce(cluster.bootstrap, "replicated", [b"x"])
        leader = cluster.leader_of("replicated", 0)
        assert leader in {1, 2, 3}

        cluster.kill(leader)
        deadline = time.monotonic() + 30
        while cluster.leader_of("replicated", 0) in (leader, None):
            assert time.monotonic() < deadline, "no new leader within 30 s"
            time.sleep(0.2)
        cluster.start_node(leader)
        assert cluster.registered() == {1, 2, 3}
    finally:
        cluster.stop()
