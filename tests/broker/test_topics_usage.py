"""`horizons topics usage` on a real broker: DescribeLogDirs through kafka-python, checked
against what was written (Kafka), or the clear "not supported" line (Tansu)."""

from __future__ import annotations

import json
import os

from confluent_kafka import Producer
from typer.testing import CliRunner

from cosmic_horizons.cli.exits import Exit
from cosmic_horizons.cli.main import app
from tests.engines import only_kafka, only_tansu
from tests.helpers import create_topic

runner = CliRunner()
RECORDS = 200
SIZE = 500


def write(bootstrap: str, topic: str) -> None:
    create_topic(bootstrap, topic, partitions=2)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for n in range(RECORDS):
        producer.produce(
            topic,
            os.urandom(SIZE),  # incompressible
            key=str(n).encode(),
            partition=n % 2,
        )
    assert producer.flush(30) == 0


@only_kafka("Tansu does not implement DescribeLogDirs (its test below asserts the refusal)")
def test_usage_reports_the_bytes_written_per_partition(bootstrap: str, topic_name: str) -> None:
    write(bootstrap, topic_name)
    result = runner.invoke(app, ["topics", "usage", topic_name, "-b", bootstrap, "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    parts = {p["partition"]: p["bytes"] for p in doc["partitions"]}
    assert sorted(parts) == [0, 1]
    # Each partition holds its 100 values of 500 bytes plus the batches' framing.
    for size in parts.values():
        assert RECORDS // 2 * SIZE <= size < 2 * RECORDS // 2 * SIZE, parts
    assert {r["topic"] for r in doc["replicas"]} == {topic_name}
    assert doc["total_bytes"] == sum(parts.values())  # one node: one replica each
    assert sum(doc["by_broker"].values()) == doc["total_bytes"]
    assert doc["log_dirs"] and all(d["error"] is None for d in doc["log_dirs"])

    table = runner.invoke(app, ["topics", "usage", topic_name, "-b", bootstrap])
    assert table.exit_code == 0
    assert f"disk usage of {topic_name}" in table.stdout
    assert "per broker" in table.stdout


@only_kafka("Tansu does not implement DescribeLogDirs")
def test_usage_of_a_missing_topic_exits_1(bootstrap: str, topic_name: str) -> None:
    result = runner.invoke(app, ["topics", "usage", topic_name, "-b", bootstrap])
    assert result.exit_code == Exit.PROBLEM
    assert f"{topic_name}: no such topic" in result.stderr


@only_tansu("Kafka implements DescribeLogDirs (the test above reads it)")
def test_usage_on_a_broker_without_describe_log_dirs_says_so(
    bootstrap: str, topic_name: str
) -> None:
    write(bootstrap, topic_name)
    result = runner.invoke(app, ["topics", "usage", topic_name, "-b", bootstrap, "--json"])
    assert result.exit_code == Exit.UNREACHABLE
    assert result.stdout == ""
    assert "disk usage not supported" in result.stderr
    assert "DescribeLogDirs" in result.stderr
