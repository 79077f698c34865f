"""The topic snapshot's parts from what the broker answered: each partition's placement and
offsets, and the retention configs. Pure functions; :class:`~.monitor.Monitor` asks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..topics.summary import partition_states
from .models import PartitionState

__all__ = ["partition_details", "retention_of"]

_TP = tuple[str, int]


def _int_config(entries: Mapping[str, Any], name: str) -> int | None:
    entry = entries.get(name)
    if entry is None or entry.value is None:
        return None
    try:
        return int(entry.value)
    except ValueError:
        return None


def retention_of(entries: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """``retention.ms`` and ``retention.bytes`` of DescribeConfigs' entries (None: not a number
    or not reported)."""
    return _int_config(entries, "retention.ms"), _int_config(entries, "retention.bytes")


def partition_details(
    topic: str, topic_md: Any, earliest: Mapping[_TP, int], latest: Mapping[_TP, int]
) -> list[PartitionState]:
    """Every partition of ``topic_md`` (confluent-kafka's TopicMetadata), in id order, with its
    leader, replicas, ISR and the offsets found for it."""
    replicated = {p.id: p for p in partition_states(topic_md)}
    details = []
    for pid in sorted(topic_md.partitions):
        pmd = topic_md.partitions[pid]
        details.append(
            PartitionState(
                partition=pid,
                leader=pmd.leader if pmd.leader >= 0 else None,
                replicas=list(pmd.replicas),
                isr=list(pmd.isrs),
                earliest_offset=earliest.get((topic, pid)),
                latest_offset=latest.get((topic, pid)),
                under_replicated=replicated[pid].under_replicated,
            )
        )
    return details
