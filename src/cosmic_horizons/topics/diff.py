"""Desired vs actual: the state of a topic on the cluster and how it differs from its spec.

Pure functions and values only; :mod:`.admin` reads the state from the cluster and applies
the fixable part of a :class:`TopicDiff`.
"""

from __future__ import annotations

import math

import msgspec

from .models import TopicSpec

__all__ = [
    "ConfigDrift",
    "PartitionPlacement",
    "TopicDiff",
    "TopicState",
    "configs_equal",
    "diff_topic",
]

# Config keys whose value is a comma-separated set ("compact,delete" == "delete,compact").
_LIST_KEYS = frozenset({"cleanup.policy"})
# Config keys whose values are case-insensitive names.
_NAME_KEYS = frozenset(
    {"cleanup.policy", "compression.type", "message.timestamp.type", "message.format.version"}
)


class PartitionPlacement(msgspec.Struct, frozen=True, kw_only=True):
    """Where one partition lives, as the cluster reports it: leader, replicas, ISR (broker ids)."""

    id: int
    leader: int | None
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def replication_factor(self) -> int:
        """Distinct brokers holding a replica (a broker listed twice holds one copy)."""
        return len(set(self.replicas))

    @property
    def under_replicated(self) -> bool:
        return len(set(self.isr)) < self.replication_factor


class TopicState(msgspec.Struct, frozen=True, kw_only=True):
    """A topic as it exists on the cluster: partitions and the config values it reports."""

    name: str
    partitions: tuple[PartitionPlacement, ...]
    configs: dict[str, str] = {}

    @property
    def partition_count(self) -> int:
        return len(self.partitions)

    @property
    def replication_factor(self) -> int:
        """The smallest replica count over the partitions (the weakest one counts)."""
        return min((p.replication_factor for p in self.partitions), default=0)

    @property
    def under_replicated(self) -> tuple[int, ...]:
        """Ids of the partitions whose in-sync set is smaller than their replica set."""
        return tuple(p.id for p in self.partitions if p.under_replicated)


class ConfigDrift(msgspec.Struct, frozen=True, kw_only=True):
    """A topic config whose actual value differs from the desired one (None: not set)."""

    key: str
    desired: str
    actual: str | None


class TopicDiff(msgspec.Struct, frozen=True, kw_only=True):
    """What separates a topic on the cluster from its spec.

    Fixable: a missing topic (CreateTopics), config drift (IncrementalAlterConfigs) and too few
    partitions (CreatePartitions). Report only: more partitions than desired (Kafka cannot
    shrink a topic) and a replication-factor mismatch (needs a partition reassignment).
    """

    name: str
    missing: bool
    desired_partitions: int
    actual_partitions: int | None
    desired_replication_factor: int
    actual_replication_factor: int | None
    configs: tuple[ConfigDrift, ...] = ()

    @property
    def partitions_to_add(self) -> int:
        """How many partitions CreatePartitions must add (0 when none)."""
        if self.actual_partitions is None:
            return 0
        return max(0, self.desired_partitions - self.actual_partitions)

    @property
    def too_many_partitions(self) -> bool:
        return self.actual_partitions is not None and (
            self.actual_partitions > self.desired_partitions
        )

    @property
    def replication_mismatch(self) -> bool:
        return (
            self.actual_replication_factor is not None
            and self.actual_replication_factor != self.desired_replication_factor
        )

    @property
    def in_sync(self) -> bool:
        return not (
            self.missing
            or self.configs
            or self.partitions_to_add
            or self.too_many_partitions
            or self.replication_mismatch
        )

    @property
    def fixable(self) -> bool:
        """True when something differs that ``ensure --fix`` can change."""
        return bool(self.missing or self.configs or self.partitions_to_add)

    def problems(self) -> list[str]:
        """One line per difference, with what it takes to resolve it."""
        if self.missing:
            return [f"topic {self.name} does not exist"]
        lines: list[str] = []
        if self.partitions_to_add:
            lines.append(
                f"partitions: {self.actual_partitions}, desired {self.desired_partitions} "
                f"(add {self.partitions_to_add} with CreatePartitions: ensure --fix)"
            )
        if self.too_many_partitions:
            lines.append(
                f"partitions: {self.actual_partitions}, desired {self.desired_partitions} "
                "(Kafka cannot reduce partitions; recreate the topic to shrink it)"
            )
        if self.replication_mismatch:
            lines.append(
                f"replication factor: {self.actual_replication_factor}, desired "
                f"{self.desired_replication_factor} (needs a partition reassignment, "
                "kafka-reassign-partitions.sh, on a cluster with enough brokers)"
            )
        for drift in self.configs:
            actual = "not set" if drift.actual is None else drift.actual
            lines.append(f"{drift.key}: {actual}, desired {drift.desired} (ensure --fix)")
        return lines


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def configs_equal(key: str, desired: str, actual: str | None) -> bool:
    """Whether ``actual`` means the same as ``desired`` for config ``key``.

    Harmless spelling differences are ignored: surrounding spaces, ``604800000`` vs
    ``604800000.0``, ``TRUE`` vs ``true``, the case of names such as ``Snappy``, and the order
    of list values such as ``cleanup.policy=compact,delete``.
    """
    if actual is None:
        return False
    a, d = actual.strip(), desired.strip()
    if a == d:
        return True
    if key in _LIST_KEYS:
        return {x.strip().lower() for x in a.split(",") if x.strip()} == {
            x.strip().lower() for x in d.split(",") if x.strip()
        }
    if key in _NAME_KEYS or {a.lower(), d.lower()} <= {"true", "false"}:
        return a.lower() == d.lower()
    na, nd = _number(a), _number(d)
    return na is not None and nd is not None and na == nd


def diff_topic(desired: TopicSpec, actual: TopicState | None) -> TopicDiff:
    """Compare ``desired`` with the topic on the cluster (None: it does not exist).

    Only the configs the spec names are compared; values, not config sources, count (some
    brokers mark every value as a default).
    """
    if actual is None:
        return TopicDiff(
            name=desired.name,
            missing=True,
            desired_partitions=desired.partitions,
            actual_partitions=None,
            desired_replication_factor=desired.replication_factor,
            actual_replication_factor=None,
        )
    drift = tuple(
        ConfigDrift(key=key, desired=value, actual=actual.configs.get(key))
        for key, value in sorted(desired.configs.items())
        if not configs_equal(key, value, actual.configs.get(key))
    )
    return TopicDiff(
        name=desired.name,
        missing=False,
        desired_partitions=desired.partitions,
        actual_partitions=actual.partition_count,
        desired_replication_factor=desired.replication_factor,
        actual_replication_factor=actual.replication_factor,
        configs=drift,
    )
