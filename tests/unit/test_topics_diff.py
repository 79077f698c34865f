"""Desired vs actual: diff_topic over hand-built topic states (no broker)."""

from __future__ import annotations

import dataclasses

import pytest

from cosmic_horizons.topics import (
    ConfigDrift,
    PartitionPlacement,
    TopicState,
    desired_topic,
    diff_topic,
)
from cosmic_horizons.topics.diff import configs_equal

DEV = desired_topic("dev", "element.raw_data")
PROD = desired_topic("prod", "element.raw_data")


def state(
    partitions: int = 1,
    replicas: tuple[int, ...] = (1,),
    configs: dict[str, str] | None = None,
    *,
    isr: tuple[int, ...] | None = None,
) -> TopicState:
    return TopicState(
        name="element.raw_data",
        partitions=tuple(
            PartitionPlacement(id=i, leader=replicas[0], replicas=replicas, isr=isr or replicas)
            for i in range(partitions)
        ),
        configs=dict(DEV.configs) if configs is None else configs,
    )


def test_topic_matching_the_spec_is_in_sync() -> None:
    diff = diff_topic(DEV, state())
    assert diff.in_sync
    assert not diff.fixable
    assert diff.problems() == []
    assert diff.configs == ()


def test_extra_configs_on_the_cluster_are_not_drift() -> None:
    configs = {**DEV.configs, "segment.bytes": "1073741824", "max.message.bytes": "1048588"}
    assert diff_topic(DEV, state(configs=configs)).in_sync


def test_missing_topic_is_reported_and_fixable() -> None:
    diff = diff_topic(DEV, None)
    assert diff.missing
    assert not diff.in_sync
    assert diff.fixable
    assert diff.actual_partitions is None
    assert diff.partitions_to_add == 0
    assert diff.problems() == ["topic element.raw_data does not exist"]


def test_changed_config_value_is_drift_with_desired_and_actual() -> None:
    configs = {**DEV.configs, "retention.ms": "1209600000"}
    diff = diff_topic(DEV, state(configs=configs))
    assert diff.configs == (
        ConfigDrift(key="retention.ms", desired="604800000", actual="1209600000"),
    )
    assert not diff.in_sync
    assert diff.fixable
    assert diff.problems() == ["retention.ms: 1209600000, desired 604800000 (ensure --fix)"]


def test_config_not_reported_by_the_broker_is_drift_with_actual_none() -> None:
    configs = {k: v for k, v in DEV.configs.items() if k != "compression.type"}
    diff = diff_topic(DEV, state(configs=configs))
    assert diff.configs == (ConfigDrift(key="compression.type", desired="snappy", actual=None),)
    assert "compression.type: not set, desired snappy" in diff.problems()[0]


def test_several_drifts_are_listed_sorted_by_key() -> None:
    configs = {**DEV.configs, "retention.ms": "1", "cleanup.policy": "compact"}
    diff = diff_topic(DEV, state(configs=configs))
    assert [d.key for d in diff.configs] == ["cleanup.policy", "retention.ms"]


def test_broker_default_compression_producer_differs_from_snappy() -> None:
    configs = {**DEV.configs, "compression.type": "producer"}
    assert [d.key for d in diff_topic(DEV, state(configs=configs)).configs] == ["compression.type"]


@pytest.mark.parametrize(
    ("key", "desired", "actual"),
    [
        ("retention.ms", "604800000", " 604800000 "),
        ("retention.ms", "604800000", "604800000.0"),
        ("compression.type", "snappy", "SNAPPY"),
        ("cleanup.policy", "compact,delete", "delete, compact"),
        ("unclean.leader.election.enable", "false", "FALSE"),
    ],
)
def test_harmless_spelling_differences_are_not_drift(key: str, desired: str, actual: str) -> None:
    assert configs_equal(key, desired, actual)


@pytest.mark.parametrize(
    ("key", "desired", "actual"),
    [
        ("retention.ms", "604800000", "604800001"),
        ("retention.ms", "604800000", None),
        ("retention.ms", "604800000", "nan"),
        ("cleanup.policy", "delete", "compact,delete"),
        ("compression.type", "snappy", "lz4"),
        ("message.downconversion.enable", "true", "false"),
    ],
)
def test_real_differences_are_drift(key: str, desired: str, actual: str | None) -> None:
    assert not configs_equal(key, desired, actual)


def test_too_few_partitions_needs_create_partitions() -> None:
    diff = diff_topic(PROD, state(partitions=1, replicas=(1, 2, 3), configs=dict(PROD.configs)))
    assert diff.partitions_to_add == 2
    assert not diff.too_many_partitions
    assert diff.fixable
    assert diff.problems() == [
        "partitions: 1, desired 3 (add 2 with CreatePartitions: ensure --fix)"
    ]


def test_too_many_partitions_is_reported_but_not_fixable() -> None:
    diff = diff_topic(DEV, state(partitions=3))
    assert diff.too_many_partitions
    assert diff.partitions_to_add == 0
    assert not diff.in_sync
    assert not diff.fixable
    assert "cannot reduce partitions" in diff.problems()[0]


def test_replication_factor_mismatch_is_reported_with_reassignment_hint() -> None:
    diff = diff_topic(PROD, state(partitions=3, replicas=(1,), configs=dict(PROD.configs)))
    assert diff.replication_mismatch
    assert (diff.desired_replication_factor, diff.actual_replication_factor) == (3, 1)
    assert not diff.in_sync
    assert not diff.fixable
    [line] = diff.problems()
    assert "replication factor: 1, desired 3" in line
    assert "reassign" in line


def test_prod_topic_with_three_replicas_on_three_brokers_is_in_sync() -> None:
    assert diff_topic(PROD, state(3, (1, 2, 3), dict(PROD.configs))).in_sync


def test_replica_listed_twice_on_one_broker_counts_once() -> None:
    # A broker that lists one node three times holds one copy, not three.
    diff = diff_topic(PROD, state(3, (7, 7, 7), dict(PROD.configs)))
    assert diff.actual_replication_factor == 1
    assert diff.replication_mismatch


def test_weakest_partition_sets_the_replication_factor() -> None:
    weak = TopicState(
        name="t",
        partitions=(
            PartitionPlacement(id=0, leader=1, replicas=(1, 2, 3), isr=(1, 2, 3)),
            PartitionPlacement(id=1, leader=2, replicas=(2, 3), isr=(2,)),
        ),
    )
    assert weak.replication_factor == 2
    assert weak.under_replicated == (1,)
    spec = dataclasses.replace(PROD, name="t", partitions=2, configs={})
    assert diff_topic(spec, weak).replication_mismatch


def test_partition_and_config_drift_are_reported_together() -> None:
    configs = {**PROD.configs, "min.insync.replicas": "1"}
    diff = diff_topic(PROD, state(2, (1, 2, 3), configs))
    assert diff.partitions_to_add == 1
    assert [d.key for d in diff.configs] == ["min.insync.replicas"]
    assert len(diff.problems()) == 2


def test_topic_without_partitions_has_replication_factor_zero() -> None:
    empty = TopicState(name="t", partitions=())
    assert empty.partition_count == 0
    assert empty.replication_factor == 0
