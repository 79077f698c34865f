"""The desired topic specs carry the values of the spec's table for element.raw_data."""

from __future__ import annotations

import dataclasses

import pytest

from cosmic_horizons.errors import ConfigError
from cosmic_horizons.topics import desired_topic, dlq_topic_name


def test_dev_profile_is_one_partition_one_replica_with_the_spec_configs() -> None:
    spec = desired_topic("dev")
    assert spec.name == "element.raw_data"
    assert (spec.partitions, spec.replication_factor) == (1, 1)
    assert dict(spec.configs) == {
        "retention.ms": "604800000",
        "retention.bytes": "107374182400",
        "cleanup.policy": "delete",
        "compression.type": "snappy",
    }
    assert spec.compression == "snappy"


def test_prod_profile_is_three_partitions_three_replicas_and_two_in_sync() -> None:
    spec = desired_topic("prod")
    assert (spec.partitions, spec.replication_factor) == (3, 3)
    assert spec.configs["min.insync.replicas"] == "2"
    assert spec.configs["retention.ms"] == "604800000"
    assert spec.configs["cleanup.policy"] == "delete"
    assert spec.configs["compression.type"] == "snappy"
    # time (7 days) stays the binding limit: the size limit per partition is larger than dev's
    assert int(spec.configs["retention.bytes"]) > 107374182400


def test_min_insync_replicas_is_set_only_where_there_are_replicas() -> None:
    assert "min.insync.replicas" not in desired_topic("dev").configs


def test_desired_topic_takes_the_name_and_specs_are_independent_copies() -> None:
    spec = desired_topic("dev", "other.topic")
    assert spec.name == "other.topic"
    with pytest.raises(TypeError):
        spec.configs["retention.ms"] = "1"  # type: ignore[index]
    assert desired_topic("dev").configs["retention.ms"] == "604800000"


def test_dlq_topic_name_appends_dlq() -> None:
    assert dlq_topic_name("element.raw_data") == "element.raw_data.dlq"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "topic name is empty"),
        ({"partitions": 0}, "partitions must be at least 1"),
        ({"replication_factor": 0}, "replication factor must be at least 1"),
    ],
)
def test_invalid_specs_are_rejected_with_the_reason(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(desired_topic("dev"), **changes)  # type: ignore[arg-type]
