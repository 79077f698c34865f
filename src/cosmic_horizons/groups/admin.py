"""Consumer groups through the Kafka admin API: state and members, committed offsets,
offset resets and deletion (``kafka-consumer-groups``'s --describe, --reset-offsets,
--delete). librdkafka errors are translated at this edge by :func:`kafka_errors`."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from typing import TypeVar

import msgspec
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition

# confluent_kafka.admin re-exports these without listing them in __all__.
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from ..cluster import make_admin, raise_if_refused
from ..config import KafkaSettings
from ..errors import BrokerUnavailableError, HorizonsError, TopicError, kafka_errors
from .reset import Partition, ResetPlan, ResetTo, plan_reset

__all__ = ["GroupAdmin", "GroupBusyError", "GroupInfo", "GroupMissingError"]

T = TypeVar("T")
#: Group states in which no member is joined (an offset reset is safe).
_IDLE_STATES = frozenset({"EMPTY", "DEAD", "UNKNOWN"})


class GroupMissingError(HorizonsError):
    """The consumer group has no members and no committed offsets (exit 1)."""


class GroupBusyError(HorizonsError):
    """The consumer group has live members: its offsets must not be changed under them."""


class GroupInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A group's state (STABLE, EMPTY, DEAD...) and its members' client ids and hosts."""

    group: str
    state: str
    members: list[str]

    @property
    def live(self) -> bool:
        return bool(self.members) or self.state not in _IDLE_STATES


class GroupAdmin:
    """Consumer-group operations on one cluster; ``timeout`` (s) bounds each request."""

    def __init__(self, settings: KafkaSettings, *, timeout: float = 10.0) -> None:
        raise_if_refused(settings)
        self.settings = settings
        self.timeout = timeout
        self._admin: AdminClient = make_admin(settings, timeout_ms=int(timeout * 1000))

    def _wait(self, future: Future[T], operation: str, target: str) -> T:
        with kafka_errors(
            operation, target, client=self._admin, bootstrap=self.settings.bootstrap_servers
        ):
            try:
                return future.result(timeout=self.timeout + 5)
            except concurrent.futures.TimeoutError as exc:
                raise BrokerUnavailableError(
                    f"{operation} on {target}: no answer within {self.timeout + 5:.0f} s"
                ) from exc

    # -- reading -------------------------------------------------------------------------

    def describe(self, group: str) -> GroupInfo:
        """The group's state and members (DescribeGroups)."""
        futures = self._admin.describe_consumer_groups([group], request_timeout=self.timeout)
        desc = self._wait(futures[group], "DescribeGroups", group)
        state = getattr(desc.state, "name", str(desc.state))
        members = [f"{m.client_id}@{m.host}" for m in desc.members or ()]
        return GroupInfo(group=group, state=state, members=members)

    def committed(self, group: str) -> dict[Partition, int]:
        """The group's committed offsets (OffsetFetch), every topic."""
        request = [ConsumerGroupTopicPartitions(group)]
        futures = self._admin.list_consumer_group_offsets(request, request_timeout=self.timeout)
        result = self._wait(futures[group], "OffsetFetch", group)
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in result.topic_partitions or ()
            if tp.offset >= 0
        }

    def partitions(self, topic: str) -> list[int]:
        """The partition ids of ``topic`` (all topics are listed: asking for one by name
        makes some brokers create it)."""
        with kafka_errors(
            "Metadata", topic, client=self._admin, bootstrap=self.settings.bootstrap_servers
        ):
            metadata = self._admin.list_topics(timeout=self.timeout)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            raise TopicError(f"topic {topic} does not exist", code="UNKNOWN_TOPIC_OR_PART")
        return sorted(found.partitions)

    def list_offsets(
        self, partitions: Iterable[Partition], spec: OffsetSpec
    ) -> dict[Partition, int]:
        """ListOffsets of ``partitions`` for one :class:`OffsetSpec`."""
        request = {TopicPartition(t, p): spec for t, p in partitions}
        if not request:
            return {}
        futures = self._admin.list_offsets(request, request_timeout=self.timeout)
        return {
            (tp.topic, tp.partition): int(self._wait(f, "ListOffsets", tp.topic).offset)
            for tp, f in futures.items()
        }

    # -- resetting and deleting ----------------------------------------------------------

    def plan(self, group: str, to: ResetTo, topic: str | None = None) -> ResetPlan:
        """The reset of ``group``'s offsets on ``topic`` (default: every topic it has
        committed offsets for), read from the cluster; nothing is changed."""
        committed = self.committed(group)
        if topic is not None:
            scope: dict[Partition, int | None] = {
                (topic, p): committed.get((topic, p)) for p in self.partitions(topic)
            }
        elif committed:
            scope = dict(committed)
        else:
            raise GroupMissingError(
                f"group {group} has no committed offsets; name the topic to reset with --topic"
            )
        earliest = self.list_offsets(scope, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
        latest = self.list_offsets(scope, OffsetSpec.latest())  # type: ignore[no-untyped-call]
        at_time = None
        if to.kind == "datetime":
            at_time = self.list_offsets(scope, OffsetSpec.for_timestamp(to.value))
        return plan_reset(group, to, scope, earliest, latest, at_time)

    def require_idle(self, group: str) -> GroupInfo:
        """The group's description; :class:`GroupBusyError` when it has live members."""
        info = self.describe(group)
        if info.live:
            who = ", ".join(info.members) or "members rebalancing"
            raise GroupBusyError(
                f"group {group} is {info.state} with {len(info.members)} live member(s) "
                f"({who}); stop its consumers first; nothing was changed"
            )
        return info

    def alter(self, group: str, offsets: Mapping[Partition, int]) -> None:
        """Commit ``offsets`` for ``group`` (OffsetCommit through the admin API)."""
        if not offsets:
            return
        parts = [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]
        request = [ConsumerGroupTopicPartitions(group, parts)]
        futures = self._admin.alter_consumer_group_offsets(request, request_timeout=self.timeout)
        result = self._wait(futures[group], "OffsetCommit", group)
        with kafka_errors(
            "OffsetCommit", group, client=self._admin, bootstrap=self.settings.bootstrap_servers
        ):
            for tp in result.topic_partitions or ():
                if tp.error is not None:
                    raise KafkaException(tp.error)

    def delete(self, group: str) -> None:
        """Delete ``group`` and its committed offsets (DeleteGroups)."""
        futures = self._admin.delete_consumer_groups([group], request_timeout=self.timeout)
        try:
            self._wait(futures[group], "DeleteGroups", group)
        except HorizonsError as exc:
            if getattr(exc, "code", None) == "GROUP_ID_NOT_FOUND":
                raise GroupMissingError(f"group {group} does not exist") from exc
            if getattr(exc, "code", None) == "NON_EMPTY_GROUP":
                raise GroupBusyError(
                    f"group {group} has live members; stop its consumers first"
                ) from exc
            raise
