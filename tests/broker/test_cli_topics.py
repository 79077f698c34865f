"""`horizons topics` through typer's CliRunner on the embedded broker: output and exit codes."""

from __future__ import annotations

import json
import os
import time

import pytest
from confluent_kafka import Producer
from typer.testing import CliRunner

from cosmic_horizons._units import format_bytes
from cosmic_horizons.cli import confirm
from cosmic_horizons.cli.main import app
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.topics.usage import describe_log_dirs
from tests.engines import only_kafka, only_tansu
from tests.helpers import create_topic

runner = CliRunner()


def horizons(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def target(bootstrap: str, topic_name: str) -> list[str]:
    return ["-b", bootstrap, "-t", topic_name]


def test_ensure_twice_creates_then_reports_in_sync(target: list[str], topic_name: str) -> None:
    code, out, _ = horizons("topics", "ensure", *target)
    assert code == 0
    assert f"{topic_name}: created, in sync" in out
    assert "desired vs actual" in out

    code, out, _ = horizons("topics", "ensure", "--fix", *target)
    assert code == 0
    assert f"{topic_name}: in sync" in out
    assert "created" not in out
    assert "applied" not in out


def test_drift_exits_1_until_fixed(target: list[str], topic_name: str, bootstrap: str) -> None:
    assert horizons("topics", "ensure", *target)[0] == 0
    code, out, _ = horizons("topics", "alter", topic_name, "--retention", "14d", "-b", bootstrap)
    assert code == 0
    assert "retention.ms 604800000" in out
    assert "-> 1209600000" in out

    code, out, _ = horizons("topics", "ensure", *target)
    assert code == 1
    assert f"{topic_name}: drift remains" in out
    assert "retention.ms: 1209600000, desired 604800000" in out
    assert "--fix" in out

    code, out, _ = horizons("topics", "ensure", "--fix", *target)
    assert code == 0
    assert "applied: set retention.ms=604800000 (was 1209600000)" in out
    assert f"{topic_name}: fixed, in sync" in out

    code, out, _ = horizons("topics", "ensure", *target)
    assert (code, f"{topic_name}: in sync" in out) == (0, True)


def test_ensure_json_and_with_dlq(target: list[str], topic_name: str, bootstrap: str) -> None:
    code, out, _ = horizons("topics", "ensure", "--with-dlq", "--json", *target)
    assert code == 0
    results = json.loads(out)
    assert [r["name"] for r in results] == [topic_name, f"{topic_name}.dlq"]
    assert all(r["created"] and r["in_sync"] and r["problems"] == [] for r in results)
    assert results[1]["actual"]["configs"]["retention.ms"] == "604800000"

    code, out, _ = horizons("topics", "list", "--json", "-b", bootstrap)
    assert code == 0
    names = [t["name"] for t in json.loads(out)]
    assert topic_name in names
    assert f"{topic_name}.dlq" in names


@only_tansu("Kafka refuses a replication factor above its broker count (test below)")
def test_prod_profile_on_one_broker_reports_replication_drift(
    target: list[str], topic_name: str
) -> None:
    code, out, _ = horizons("topics", "ensure", "--profile", "prod", "--json", *target)
    assert code == 1
    [result] = json.loads(out)
    assert result["created"]
    assert result["actual"]["configs"]["min.insync.replicas"] == "2"
    assert len(result["actual"]["partitions"]) == 3
    [problem] = result["problems"]
    assert problem.startswith("replication factor: 1, desired 3")


@only_kafka("Tansu accepts a replication factor of 3 on one broker (test above)")
def test_prod_profile_on_one_broker_is_refused_by_name_and_creates_nothing(
    target: list[str], topic_name: str, bootstrap: str
) -> None:
    code, out, err = horizons("topics", "ensure", "--profile", "prod", "--json", *target)
    assert code == 3
    assert out == ""
    assert f"CreateTopics on {topic_name} failed: INVALID_REPLICATION_FACTOR" in err
    code, _, err = horizons("topics", "describe", topic_name, "-b", bootstrap)
    assert code == 1
    assert "does not exist" in err


def test_describe_shows_partitions_and_configs(target: list[str], topic_name: str) -> None:
    horizons("topics", "ensure", *target)
    code, out, _ = horizons("topics", "describe", topic_name, "--json", *target[:2])
    assert code == 0
    state = json.loads(out)
    assert state["partition_count"] == 1
    [partition] = state["partitions"]
    assert partition["leader"] is not None
    assert partition["isr"] == partition["replicas"]
    assert state["configs"]["compression.type"] == "snappy"

    code, out, _ = horizons("topics", "describe", topic_name, *target[:2])
    assert code == 0
    for word in ("partition", "leader", "replicas", "isr", "retention.ms", "604800000"):
        assert word in out


def test_missing_topic_exits_1(bootstrap: str, topic_name: str) -> None:
    code, _, err = horizons("topics", "describe", topic_name, "-b", bootstrap)
    assert code == 1
    assert f"topic {topic_name} does not exist" in err
    code, _, err = horizons("topics", "alter", topic_name, "--retention", "1d", "-b", bootstrap)
    assert code == 1
    assert "does not exist" in err


def test_alter_bad_arguments_exit_2(bootstrap: str, topic_name: str) -> None:
    code, _, err = horizons("topics", "alter", topic_name, "-b", bootstrap)
    assert code == 2
    assert "--retention" in err
    code, _, err = horizons("topics", "alter", topic_name, "--retention", "3x", "-b", bootstrap)
    assert code == 2
    assert "'3x' is not a duration" in err
    code, _, err = horizons("topics", "ensure", "--profile", "staging", "-b", bootstrap)
    assert code == 2
    assert "staging" in err


def test_alter_retention_bytes(target: list[str], topic_name: str, bootstrap: str) -> None:
    horizons("topics", "ensure", *target)
    code, out, _ = horizons(
        "topics", "alter", topic_name, "--retention-bytes", "200GB", "--json", "-b", bootstrap
    )
    assert code == 0
    assert json.loads(out)["changes"] == [
        {"key": "retention.bytes", "before": "107374182400", "after": "200000000000"}
    ]


@only_tansu("Kafka implements CreatePartitions (test below)")
def test_unsupported_create_partitions_is_one_line_exit_3_and_changes_nothing(
    target: list[str], topic_name: str, bootstrap: str
) -> None:
    create_topic(bootstrap, topic_name, partitions=1)  # prod wants 3 partitions and configs
    code, out, err = horizons("topics", "ensure", "--profile", "prod", "--fix", *target)
    assert code == 3
    assert out == ""
    assert "the broker does not support CreatePartitions" in err
    assert "nothing was changed" in err

    code, out, _ = horizons("topics", "describe", topic_name, "--json", "-b", bootstrap)
    state = json.loads(out)
    assert state["partition_count"] == 1
    assert "min.insync.replicas" not in state["configs"]
    assert "retention.ms" not in state["configs"]


# -- alter: units, Kafka's form, and changes that delete data -----------------------------


def _configs(bootstrap: str, topic: str) -> dict[str, str]:
    code, out, _ = horizons("topics", "describe", topic, "--json", "-b", bootstrap)
    assert code == 0
    configs: dict[str, str] = json.loads(out)["configs"]
    return configs


def _produce_aged(bootstrap: str, topic: str, age_s: float) -> None:
    """One record whose timestamp is ``age_s`` seconds ago."""
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, b"{}", timestamp=int((time.time() - age_s) * 1000))
    assert producer.flush(10) == 0


def test_alter_refuses_a_bare_number_naming_both_readings(
    target: list[str], topic_name: str, bootstrap: str
) -> None:
    horizons("topics", "ensure", *target)
    code, out, err = horizons("topics", "alter", topic_name, "--retention", "14", "-b", bootstrap)
    assert (code, out) == (2, "")
    assert "did you mean 14d? for milliseconds write 14ms" in err
    code, _, err = horizons(
        "topics", "alter", topic_name, "--retention", "1209600000", "-b", bootstrap
    )
    assert code == 2
    assert "1209600000ms, that is 2w" in err and "retention.ms=1209600000" in err
    code, _, err = horizons(
        "topics", "alter", topic_name, "--retention-bytes", "200", "-b", bootstrap
    )
    assert code == 2
    assert "did you mean 200GB? for bytes write 200B" in err
    assert _configs(bootstrap, topic_name)["retention.ms"] == "604800000"
    assert _configs(bootstrap, topic_name)["retention.bytes"] == "107374182400"


def test_alter_takes_kafkas_own_form(target: list[str], topic_name: str, bootstrap: str) -> None:
    horizons("topics", "ensure", *target)
    code, out, err = horizons(
        "topics", "alter", topic_name, "--retention", "retention.ms=1209600000", "-b", bootstrap
    )
    assert code == 0, err
    assert "-> 1209600000 (2w)" in out
    code, _, err = horizons(
        "topics", "alter", topic_name,
        "--add-config", "retention.ms=1814400000,retention.bytes=214748364800",
        "-b", bootstrap,
    )  # fmt: skip
    assert code == 0, err
    configs = _configs(bootstrap, topic_name)
    assert (configs["retention.ms"], configs["retention.bytes"]) == ("1814400000", "214748364800")
    code, _, err = horizons(
        "topics", "alter", topic_name, "--add-config", "retention.ms=1", "--retention", "2d",
        "-b", bootstrap,
    )  # fmt: skip
    assert code == 2 and "retention.ms is given twice" in err


def test_alter_below_the_age_of_the_data_needs_yes(
    target: list[str], topic_name: str, bootstrap: str
) -> None:
    horizons("topics", "ensure", *target)
    _produce_aged(bootstrap, topic_name, age_s=3 * 86400)
    code, out, err = horizons("topics", "alter", topic_name, "--retention", "1d", "-b", bootstrap)
    assert (code, out) == (5, "")
    assert "shorter than the age of the data" in err and "partition(s) 0" in err
    assert "3.0 days old" in err
    assert "refusing without --yes" in err and "nothing was changed" in err
    assert _configs(bootstrap, topic_name)["retention.ms"] == "604800000"

    code, out, err = horizons(
        "topics", "alter", topic_name, "--retention", "1d", "--yes", "-b", bootstrap
    )
    assert code == 0, err
    assert "-> 86400000 (1d)" in out
    assert "will be deleted" in err
    # Longer than the data's age: nothing is deleted, nothing is asked.
    code, _, err = horizons("topics", "alter", topic_name, "--retention", "5d", "-b", bootstrap)
    assert code == 0, err
    assert "warning" not in err


def test_alter_shorter_but_above_the_age_of_the_data_asks_nothing(
    target: list[str], topic_name: str, bootstrap: str
) -> None:
    horizons("topics", "ensure", *target)
    _produce_aged(bootstrap, topic_name, age_s=60)
    code, out, err = horizons("topics", "alter", topic_name, "--retention", "1d", "-b", bootstrap)
    assert code == 0, err
    assert "-> 86400000 (1d)" in out


def test_alter_asks_on_a_terminal(
    target: list[str], topic_name: str, bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    horizons("topics", "ensure", *target)
    _produce_aged(bootstrap, topic_name, age_s=2 * 86400)
    monkeypatch.setattr(confirm, "interactive", lambda: True)
    result = runner.invoke(
        app, ["topics", "alter", topic_name, "--retention", "1d", "-b", bootstrap], input="n\n"
    )
    assert result.exit_code == 5
    assert "not confirmed; nothing was changed" in result.stderr
    assert _configs(bootstrap, topic_name)["retention.ms"] == "604800000"
    result = runner.invoke(
        app, ["topics", "alter", topic_name, "--retention", "1d", "-b", bootstrap], input="y\n"
    )
    assert result.exit_code == 0, result.stderr
    assert _configs(bootstrap, topic_name)["retention.ms"] == "86400000"


@only_tansu("Tansu has no DescribeLogDirs; on Kafka the sizes are known (test below)")
def test_lower_retention_bytes_says_the_size_is_unknown_and_needs_yes(
    target: list[str], topic_name: str, bootstrap: str
) -> None:
    horizons("topics", "ensure", *target)
    code, _, err = horizons(
        "topics", "alter", topic_name, "--retention-bytes", "1GB", "-b", bootstrap
    )
    assert code == 5
    assert "size is unknown (the broker does not implement DescribeLogDirs)" in err
    assert "nothing was changed" in err
    assert _configs(bootstrap, topic_name)["retention.bytes"] == "107374182400"
    code, out, err = horizons(
        "topics", "alter", topic_name, "--retention-bytes", "1GB", "-y", "--json", "-b", bootstrap
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["changes"][0]["after"] == "1000000000"
    assert report["deletes"] and "unknown" in report["deletes"][0]


@only_kafka("Tansu has no DescribeLogDirs: the size is unknown there (test above)")
def test_retention_bytes_below_a_partition_s_size_says_what_goes_and_needs_yes(
    target: list[str], topic_name: str, bootstrap: str
) -> None:
    horizons("topics", "ensure", *target)
    producer = Producer({"bootstrap.servers": bootstrap})
    for _ in range(50):
        producer.produce(topic_name, os.urandom(2000), partition=0)  # incompressible
    assert producer.flush(10) == 0
    usage = describe_log_dirs(KafkaSettings(bootstrap_servers=bootstrap), [topic_name])
    size = usage.partition_bytes()[(topic_name, 0)]
    assert size > 60_000  # over the 50KB limit below
    code, out, err = horizons(
        "topics", "alter", topic_name, "--retention-bytes", "50KB", "-b", bootstrap
    )
    assert (code, out) == (5, "")
    assert f"below the size of partition(s) 0 ({format_bytes(size)})" in err
    assert f"up to {size - 50_000} bytes" in err and "unknown" not in err
    assert "nothing was changed" in err
    assert _configs(bootstrap, topic_name)["retention.bytes"] == "107374182400"
    # Above every partition's size (though lower than before): nothing goes, nothing asked.
    code, out, err = horizons(
        "topics", "alter", topic_name, "--retention-bytes", "1MB", "-b", bootstrap
    )
    assert code == 0, err
    assert "warning" not in err and "-> 1000000" in out
    code, out, _ = horizons(
        "topics", "alter", topic_name, "--retention-bytes", "50KB", "-y", "--json", "-b", bootstrap
    )
    assert code == 0
    assert "below the size of partition(s) 0" in json.loads(out)["deletes"][0]


@only_kafka("Tansu lacks CreatePartitions (test above)")
def test_prod_fix_adds_partitions_and_configs_and_reports_the_replication_drift_left(
    target: list[str], topic_name: str, bootstrap: str
) -> None:
    create_topic(bootstrap, topic_name, partitions=1)  # prod wants 3 partitions and configs
    code, out, _ = horizons("topics", "ensure", "--profile", "prod", "--fix", *target)
    assert code == 1  # the replication factor cannot be fixed on one broker
    assert "applied: partitions 1 -> 3 (CreatePartitions)" in out
    assert "applied: set min.insync.replicas=2 (was 1)" in out
    assert f"{topic_name}: drift remains" in out
    assert "replication factor: 1, desired 3" in out

    code, out, _ = horizons("topics", "describe", topic_name, "--json", "-b", bootstrap)
    state = json.loads(out)
    assert state["partition_count"] == 3
    assert state["configs"]["min.insync.replicas"] == "2"
    assert state["configs"]["retention.ms"] == "604800000"
