"""Topic administration: list, describe, ensure (desired vs actual), alter, delete records.

Every operation uses the standard Kafka admin API through one admin client
(:class:`~cosmic_horizons.topics.calls.AdminCalls`; reading is
:class:`~cosmic_horizons.topics.reading.TopicReader`). librdkafka errors are translated at
this edge; an operation the broker lacks raises
:class:`UnsupportedByBrokerError` naming the Kafka API and the broker's answer, before anything
else was changed.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Mapping

import msgspec
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException, TopicPartition

# confluent_kafka.admin re-exports these without listing them in __all__.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from ..config import KafkaSettings
from ..errors import (
    BrokerError,
    BrokerUnavailableError,
    TopicError,
    UnsupportedByBrokerError,
    rdkafka_error_of,
)
from .diff import TopicDiff, TopicState, configs_equal, diff_topic
from .models import TopicSpec
from .reading import TopicReader
from .summary import TopicSummary

__all__ = [
    "ConfigChange",
    "EnsureResult",
    "TopicAdmin",
    "TopicSummary",
    "delete_records_before",
]

_DROPPED_CODES = frozenset({RdKafkaError._TRANSPORT, RdKafkaError._TIMED_OUT})


class ConfigChange(msgspec.Struct, frozen=True, kw_only=True):
    """A config value before and after an alteration (None: not set)."""

    key: str
    before: str | None
    after: str | None


class EnsureResult(msgspec.Struct, frozen=True, kw_only=True):
    """What ``ensure`` found, what it did, and what still differs."""

    name: str
    before: TopicDiff
    after: TopicDiff
    actual: TopicState | None
    created: bool = False
    applied: tuple[str, ...] = ()

    @property
    def in_sync(self) -> bool:
        return self.after.in_sync

    @property
    def changed(self) -> bool:
        return self.created or bool(self.applied)


class TopicAdmin(TopicReader):
    """Topic operations on one cluster through a single admin client.

    ``timeout`` (seconds) bounds each broker request; nothing waits forever.
    """

    # -- changing ------------------------------------------------------------------------

    def ensure(self, spec: TopicSpec, *, fix: bool = False) -> EnsureResult:
        """Create ``spec``'s topic when missing; otherwise diff it and, with ``fix``, apply.

        Fixes: config drift through IncrementalAlterConfigs (SET), too few partitions through
        CreatePartitions. More partitions than desired and a replication-factor mismatch are
        reported only. When the broker lacks CreatePartitions, this raises
        :class:`UnsupportedByBrokerError` before any config is changed.
        """
        actual = self._state(spec.name)
        before = diff_topic(spec, actual)
        if before.missing and not self._create(spec):
            # Someone else created it meanwhile: treat it as an existing topic.
            actual = self._wait_for(spec.name)
            before = diff_topic(spec, actual)
        if before.missing:
            actual = self._wait_for(spec.name)
            after = diff_topic(spec, actual)
            return EnsureResult(
                name=spec.name,
                before=before,
                after=after,
                actual=actual,
                created=True,
                applied=(
                    f"created {spec.name}: {spec.partitions} partition(s), "
                    f"replication factor {spec.replication_factor}, {len(spec.configs)} config(s)",
                ),
            )
        if not fix or not before.fixable:
            return EnsureResult(name=spec.name, before=before, after=before, actual=actual)

        applied: builtins.list[str] = []
        if before.partitions_to_add:
            # Ask first (validate only) so an unsupported CreatePartitions changes nothing.
            self._create_partitions(spec.name, spec.partitions, validate_only=True)
        if before.configs:
            changes = {d.key: d.desired for d in before.configs}
            self._incremental_alter(spec.name, changes)
            applied.extend(
                f"set {d.key}={d.desired} (was {d.actual if d.actual is not None else 'not set'})"
                for d in before.configs
            )
        if before.partitions_to_add:
            self._create_partitions(spec.name, spec.partitions, validate_only=False)
            applied.append(
                f"partitions {before.actual_partitions} -> {spec.partitions} (CreatePartitions)"
            )
        actual = self._wait_for(spec.name, until=lambda s: _applied(spec, before, s))
        return EnsureResult(
            name=spec.name,
            before=before,
            after=diff_topic(spec, actual),
            actual=actual,
            applied=tuple(applied),
        )

    def alter_configs(self, name: str, changes: Mapping[str, str]) -> builtins.list[ConfigChange]:
        """SET topic configs through IncrementalAlterConfigs; returns each value before/after."""
        if not changes:
            return []
        before = self.describe(name)  # a topic that does not exist is an error, not a no-op
        self._incremental_alter(name, changes)
        after = self._wait_for(
            name,
            until=lambda s: all(configs_equal(k, v, s.configs.get(k)) for k, v in changes.items()),
        )
        return [
            ConfigChange(key=k, before=before.configs.get(k), after=after.configs.get(k))
            for k in changes
        ]

    def alter_retention(
        self,
        name: str,
        retention_ms: int | None = None,
        *,
        retention_bytes: int | None = None,
    ) -> builtins.list[ConfigChange]:
        """Change ``retention.ms`` and/or ``retention.bytes`` (-1: unlimited)."""
        changes: dict[str, str] = {}
        for key, value in (("retention.ms", retention_ms), ("retention.bytes", retention_bytes)):
            if value is None:
                continue
            if value < -1 or value == 0:
                raise TopicError(f"{key}={value}: must be positive, or -1 for unlimited")
            changes[key] = str(value)
        if not changes:
            raise TopicError("alter retention: give retention_ms and/or retention_bytes")
        return self.alter_configs(name, changes)

    def delete_records_before(self, topic: str, offsets: Mapping[int, int]) -> dict[int, int]:
        """Delete records before ``offsets[partition]`` (DeleteRecords); new log start offsets.

        The broker's refusal raises :class:`UnsupportedByBrokerError`. A broker that drops the
        connection on DeleteRecords while it still answers metadata requests, with every log
        start offset unchanged, is reported the same way (Tansu does this).
        """
        if not offsets:
            return {}
        for partition, offset in offsets.items():
            if partition < 0 or offset < 0:
                raise TopicError(
                    f"DeleteRecords on {topic}: partition {partition} offset {offset}: "
                    "both must be zero or more"
                )
        state = self.describe(topic)
        known = {p.id for p in state.partitions}
        unknown = sorted(set(offsets) - known)
        if unknown:
            raise TopicError(
                f"DeleteRecords on {topic}: no partition {', '.join(map(str, unknown))} "
                f"(the topic has {state.partition_count})",
                code="UNKNOWN_TOPIC_OR_PART",
            )
        start_before = self.log_start_offsets(topic, offsets)
        # Partitions already at or past their target need no request.
        todo = {p: o for p, o in offsets.items() if o > start_before[p]}
        if not todo:
            return start_before
        request = [TopicPartition(topic, p, o) for p, o in sorted(todo.items())]
        try:
            futures = self._admin.delete_records(
                request, request_timeout=self.timeout, operation_timeout=self.timeout
            )
            done = {tp.partition: self._result(f).low_watermark for tp, f in futures.items()}
            return {**start_before, **done}
        except KafkaException as exc:
            err = rdkafka_error_of(exc)
            if err is None or err.code() not in _DROPPED_CODES:
                raise self._translate(
                    exc, operation="DeleteRecords", target=topic, error_type=TopicError
                ) from exc
            answer = f"{err.name()}: {err.str()}"
        # The connection dropped. A broker that is down is unavailable; one that still answers
        # metadata and kept every log start offset refused DeleteRecords.
        start_after = self._log_start_after_drop(topic, offsets, answer)
        if all(start_after[p] >= o for p, o in todo.items()):
            return start_after
        if start_after != start_before:  # a broker that applied part of the request
            raise TopicError(
                f"DeleteRecords on {topic}: the connection dropped ({answer}); log start "
                f"offsets moved from {start_before} to {start_after}, not to {dict(offsets)}"
            )
        raise UnsupportedByBrokerError(
            "DeleteRecords",
            f"it closed the connection ({answer}) while still answering metadata requests; "
            f"log start offsets unchanged {start_before}",
        )

    def _create(self, spec: TopicSpec) -> bool:
        """CreateTopics; False when the topic already exists."""
        new = NewTopic(
            spec.name,
            num_partitions=spec.partitions,
            replication_factor=spec.replication_factor,
            config=dict(spec.configs),
        )
        try:
            self._result(
                self._admin.create_topics(
                    [new], request_timeout=self.timeout, operation_timeout=self.timeout
                )[spec.name]
            )
        except KafkaException as exc:
            err = rdkafka_error_of(exc)
            if err is not None and err.code() == RdKafkaError.TOPIC_ALREADY_EXISTS:
                return False
            raise self._translate(
                exc, operation="CreateTopics", target=spec.name, error_type=TopicError
            ) from exc
        return True

    def _incremental_alter(self, name: str, changes: Mapping[str, str]) -> None:
        resource = ConfigResource(
            ResourceType.TOPIC,
            name,
            incremental_configs=[
                ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                for k, v in changes.items()
            ],
        )
        with self._errors("IncrementalAlterConfigs", name, error_type=TopicError):
            self._result(
                self._admin.incremental_alter_configs([resource], request_timeout=self.timeout)[
                    resource
                ]
            )

    def _create_partitions(self, name: str, total: int, *, validate_only: bool) -> None:
        with self._errors("CreatePartitions", name, error_type=TopicError):
            self._result(
                self._admin.create_partitions(
                    [NewPartitions(name, total)],
                    validate_only=validate_only,
                    request_timeout=self.timeout,
                    operation_timeout=self.timeout,
                )[name]
            )

    def _log_start_after_drop(
        self, topic: str, offsets: Mapping[int, int], answer: str
    ) -> dict[int, int]:
        try:
            self._admin.list_topics(topic=topic, timeout=self.timeout)
        except KafkaException as exc:
            raise BrokerUnavailableError(
                f"DeleteRecords on {topic}: the connection dropped ({answer}) and the broker "
                f"no longer answers: {exc}"
            ) from exc
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return self.log_start_offsets(topic, offsets)
            except BrokerError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)


def _applied(spec: TopicSpec, before: TopicDiff, state: TopicState) -> bool:
    """Whether the fixable part of ``before`` shows in ``state`` yet."""
    after = diff_topic(spec, state)
    return not after.configs and (
        not before.partitions_to_add or state.partition_count >= spec.partitions
    )


def delete_records_before(
    settings: KafkaSettings,
    topic: str,
    offsets: Mapping[int, int],
    *,
    timeout: float = 10.0,
) -> dict[int, int]:
    """Advance ``topic``'s log start to ``offsets[partition]`` (DeleteRecords).

    Returns the new log start offset of each partition. Raises
    :class:`UnsupportedByBrokerError` (operation ``DeleteRecords``) where the broker lacks it;
    nothing is changed then.
    """
    return TopicAdmin(settings, timeout=timeout).delete_records_before(topic, offsets)
