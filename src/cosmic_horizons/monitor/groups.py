"""Consumer groups as the monitor asks for them: members and owned partitions, commits.

Each request waits at most ``timeout`` + 1 s; an answer that does not come is an unknown
group (described) or an unreachable broker (committed offsets).
"""

from __future__ import annotations

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException
from confluent_kafka.admin import AdminClient

from ..errors import BrokerUnavailableError, kafka_errors
from .connection import describe_failure

__all__ = ["Members", "committed_offsets", "describe_groups"]

_TP = tuple[str, int]
#: A group's state, its member count and the partitions its members own (None: not told).
Members = tuple[str, int, set[_TP] | None]


def describe_groups(client: AdminClient, names: list[str], timeout: float) -> dict[str, Members]:
    """State, member count and owned partitions of each group (None when unknown)."""
    out: dict[str, Members] = {}
    if not names:
        return out
    futures = client.describe_consumer_groups(names, request_timeout=timeout)
    for name, future in futures.items():
        try:
            desc = future.result(timeout=timeout + 1.0)
        except (KafkaException, TimeoutError):
            out[name] = ("UNKNOWN", 0, None)
            continue
        owned: set[_TP] = set()
        for member in desc.members:
            if member.assignment is not None:
                owned.update((tp.topic, tp.partition) for tp in member.assignment.topic_partitions)
        state = getattr(desc.state, "name", str(desc.state))
        if not desc.members and state not in ("EMPTY", "DEAD"):
            # an active group reported without members: the broker does not tell who owns what
            out[name] = (state, 0, None)
            continue
        out[name] = (state, len(desc.members), owned)
    return out


def committed_offsets(
    client: AdminClient, name: str, timeout: float
) -> tuple[dict[_TP, int | None], dict[_TP, str]]:
    """The group's committed offset per partition (None: none yet), and errors per partition."""
    future = client.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(name)], request_timeout=timeout
    )[name]
    try:
        with kafka_errors("OffsetFetch", f"group {name}"):
            result = future.result(timeout=timeout + 1.0)
    except TimeoutError as exc:
        raise BrokerUnavailableError(describe_failure(exc, "OffsetFetch", f"group {name}")) from exc
    committed: dict[_TP, int | None] = {}
    errors: dict[_TP, str] = {}
    for tp in result.topic_partitions or []:
        key = (tp.topic, tp.partition)
        if tp.error is not None:
            errors[key] = f"committed offset unavailable: {tp.error.str()}"
        committed[key] = tp.offset if tp.offset >= 0 else None
    return committed, errors
