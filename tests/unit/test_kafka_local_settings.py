"""The local Kafka cluster's layout and settings, without starting a JVM."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cosmic_horizons.errors import ConfigError, HorizonsError
from cosmic_horizons.kafka_local import KAFKA_VERSION, LocalKafkaCluster, kafka_libs
from cosmic_horizons.tuning import recommended_settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_module_version_is_the_one_the_pom_pins() -> None:
    pom = (ROOT / "tools" / "kafka" / "pom.xml").read_text()
    assert re.search(r"<kafka.version>(.*)</kafka.version>", pom)[1] == KAFKA_VERSION  # type: ignore[index]


def test_node_settings_are_the_profile_with_replicas_capped_at_the_node_count(
    tmp_path: Path,
) -> None:
    one = LocalKafkaCluster(tmp_path / "a", 1, profile="prod").broker_settings()
    prod = recommended_settings("prod")
    assert one["num.io.threads"] == prod["num.io.threads"] == "16"
    assert one["default.replication.factor"] == "1"
    assert one["min.insync.replicas"] == "1"
    assert one["group.initial.rebalance.delay.ms"] == "0"
    three = LocalKafkaCluster(tmp_path / "b", 3, profile="prod").broker_settings()
    assert three["default.replication.factor"] == "3"
    assert three["min.insync.replicas"] == "2"


def test_properties_give_each_node_its_own_ports_voters_and_log_dir(tmp_path: Path) -> None:
    cluster = LocalKafkaCluster(tmp_path, 3, overrides={"log.retention.check.interval.ms": "1000"})
    ports = {p for n in cluster.nodes for p in (n.port, n.controller_port)}
    assert len(ports) == 6
    text = cluster._properties(cluster.nodes[1])
    assert "node.id=2\n" in text
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in cluster.nodes)
    assert f"controller.quorum.voters={voters}\n" in text
    assert f"log.dirs={tmp_path / 'node-2' / 'data'}\n" in text
    assert "log.retention.check.interval.ms=1000\n" in text
    assert cluster.bootstrap == ",".join(f"127.0.0.1:{n.port}" for n in cluster.nodes)


def test_a_data_dir_of_another_size_is_refused_by_name(tmp_path: Path) -> None:
    LocalKafkaCluster(tmp_path, 3)._save_state()
    with pytest.raises(ConfigError, match=r"holds a 3-node Kafka cluster, not 1 nodes"):
        LocalKafkaCluster(tmp_path, 1)
    (tmp_path / "cluster.json").write_text("{")
    with pytest.raises(ConfigError, match="not a Kafka cluster state file"):
        LocalKafkaCluster(tmp_path, 3)


def test_missing_jars_say_how_to_fetch_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HORIZONS_KAFKA_HOME", str(tmp_path))
    with pytest.raises(HorizonsError, match="run tools/kafka/fetch"):
        kafka_libs()
