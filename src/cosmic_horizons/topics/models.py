"""Desired topic specs per profile, from the spec's table for ``element.raw_data``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..config import DEFAULT_TOPIC, Profile
from ..errors import ConfigError

__all__ = ["RETENTION_MS_7_DAYS", "TopicSpec", "desired_topic", "dlq_topic_name"]

RETENTION_MS_7_DAYS = 7 * 24 * 3600 * 1000  # 604800000, the spec's log retention
_GIB = 1024**3


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """What a topic should look like: partitions, replication factor and topic configs."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("topic name is empty")
        if self.partitions < 1:
            raise ConfigError(f"{self.name}: partitions must be at least 1, got {self.partitions}")
        if self.replication_factor < 1:
            raise ConfigError(
                f"{self.name}: replication factor must be at least 1, got {self.replication_factor}"
            )

    @property
    def compression(self) -> str:
        return self.configs.get("compression.type", "producer")


_COMMON = {
    "retention.ms": str(RETENTION_MS_7_DAYS),
    "cleanup.policy": "delete",
    "compression.type": "snappy",
}

_PROFILES: dict[Profile, tuple[int, int, dict[str, str]]] = {
    # dev: one partition keeps total order; 100 GB is the spec's size fallback.
    "dev": (1, 1, {**_COMMON, "retention.bytes": str(100 * _GIB)}),
    # prod: 3 partitions, 3 replicas, acks=all needs 2 in sync; 1 TiB per partition matches the
    # spec's per-broker log.retention.bytes so time (7 days) stays the binding limit.
    "prod": (3, 3, {**_COMMON, "retention.bytes": str(1024 * _GIB), "min.insync.replicas": "2"}),
}


def desired_topic(profile: Profile, name: str = DEFAULT_TOPIC) -> TopicSpec:
    """The spec's layout of ``name`` for ``profile`` (``dev`` or ``prod``)."""
    partitions, replicas, configs = _PROFILES[profile]
    return TopicSpec(name, partitions, replicas, MappingProxyType(dict(configs)))


def dlq_topic_name(topic: str) -> str:
    """The dead-letter topic of ``topic``: ``element.raw_data.dlq``."""
    return f"{topic}.dlq"
