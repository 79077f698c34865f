"""``horizons cluster`` without a broker: plan files, bad options, and the local cluster's
broker-only node and exporter option (no JVM started)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cosmic_horizons.cli.exits import Exit, exit_for
from cosmic_horizons.cli.main import app
from cosmic_horizons.errors import ConfigError
from cosmic_horizons.kafka_local import LocalKafkaCluster, NodeSpec
from cosmic_horizons.scaling import Broker, Layout, PartitionLayout, PlanRefusedError
from cosmic_horizons.scaling.planfile import (
    plan_from_entries,
    plan_json,
    read_plan_file,
    write_plan_file,
)

LAYOUT = Layout(
    brokers=(Broker(1), Broker(2), Broker(3)),
    partitions=(PartitionLayout(topic="t", partition=0, replicas=(1, 2), size=50),),
)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stderr


def test_a_plan_file_round_trips_in_kafkas_shape(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    entries = [("t", 0, (2, 3))]
    plan = plan_from_entries(entries, LAYOUT, "test")
    write_plan_file(plan, path)
    data = json.loads(path.read_text())
    assert data == {
        "version": 1,
        "partitions": [{"topic": "t", "partition": 0, "replicas": [2, 3], "log_dirs": ["any"] * 2}],
    }
    assert read_plan_file(path) == entries
    assert plan.moved_bytes == 50 and plan_json(plan) == data


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ('{"version": 2, "partitions": []}', "version 2, expected 1"),
        ('{"version": 1, "partitions": [{"topic": "t", "partition": 0}]}', "not a reassignment"),
        (
            '{"version": 1, "partitions": [{"topic": "t", "partition": 0, "replicas": [1, 1]}]}',
            r"partitions\[0\] \(t\[0\]\): replicas \[1, 1\] must be distinct",
        ),
        (
            '{"version": 1, "partitions": [{"topic": "t", "partition": 0, "replicas": [1],'
            ' "log_dirs": ["/data"]}]}',
            'only "any" log dirs',
        ),
    ],
)
def test_a_bad_plan_file_is_one_line_naming_the_file_and_entry(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        read_plan_file(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_plan_naming_what_the_cluster_lacks_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"t\[5\]: no such partition"):
        plan_from_entries([("t", 5, (1, 2))], LAYOUT, "f")
    with pytest.raises(ConfigError, match=r"t\[0\]: no broker 9"):
        plan_from_entries([("t", 0, (1, 9))], LAYOUT, "f")


def test_a_refused_plan_exits_5() -> None:
    assert exit_for(PlanRefusedError("x")) == Exit.REFUSED


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cluster", "rebalance"], "exactly one of --plan, --execute"),
        (["cluster", "rebalance", "--plan", "--execute"], "exactly one of"),
        (["cluster", "rebalance", "--plan", "--brokers", "1,x"], "--brokers: '1,x'"),
        (["cluster", "rebalance", "--execute", "--throttle", "fast"], "--throttle: 'fast'"),
        (["cluster", "drain", "4", "--timeout", "soon"], "--timeout: 'soon'"),
    ],
)
def test_bad_options_exit_2_before_any_connection(args: list[str], message: str) -> None:
    code, err = run(*args, "-b", "127.0.0.1:1")
    assert code == Exit.USAGE, err
    assert message in err


def test_a_bad_plan_file_exits_2_before_any_connection(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("[]")
    code, err = run(
        "cluster", "rebalance", "--execute", "--plan-file", str(path), "-b", "127.0.0.1:1"
    )
    assert code == Exit.USAGE and f"--plan-file {path}" in err


def test_an_added_node_is_a_broker_of_the_same_quorum(tmp_path: Path) -> None:
    cluster = LocalKafkaCluster(tmp_path, 3, profile="prod", jmx_exporter=True)
    assert all(n.metrics_port for n in cluster.nodes)
    cluster.nodes.append(NodeSpec(4, 45678, 0, metrics_port=45679))
    text = cluster._properties(cluster.nodes[3])
    assert "process.roles=broker\n" in text
    assert "listeners=PLAINTEXT://127.0.0.1:45678\n" in text
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in cluster.nodes[:3])
    assert f"controller.quorum.voters={voters}\n" in text
    assert cluster.broker_settings()["default.replication.factor"] == "3"
    cluster._save_state()
    again = LocalKafkaCluster(tmp_path, 3)  # the voters say how many nodes it was started with
    assert [n.node_id for n in again.nodes] == [1, 2, 3, 4]
    assert again.metrics_url(4) == "http://127.0.0.1:45679/metrics"
