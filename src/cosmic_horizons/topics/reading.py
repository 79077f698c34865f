"""Reading topics: the cluster's list, one topic's partitions and configs, log starts.

:class:`TopicReader` is the reading half of
:class:`~cosmic_horizons.topics.admin.TopicAdmin`.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterable

from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException, TopicCollection, TopicPartition

# confluent_kafka.admin re-exports these without listing them in __all__.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    ConfigResource,
    OffsetSpec,
    ResourceType,
)

from ..errors import TopicError, rdkafka_error_of
from .calls import AdminCalls
from .diff import PartitionPlacement, TopicDiff, TopicState, diff_topic
from .models import TopicSpec
from .summary import TopicSummary, summarize_topic

__all__ = ["TopicReader"]

_MISSING_CODES = frozenset({RdKafkaError.UNKNOWN_TOPIC_OR_PART, RdKafkaError._UNKNOWN_TOPIC})


class TopicReader(AdminCalls):
    """What the cluster says about its topics; nothing here changes them."""

    def list(self, *, internal: bool = False) -> builtins.list[TopicSummary]:
        """The cluster's topics, sorted; internal ``__*`` topics only with ``internal=True``."""
        with self._errors("Metadata", self._bootstrap):
            metadata = self._admin.list_topics(timeout=self.timeout)
        out = [
            summarize_topic(name, topic)
            for name, topic in metadata.topics.items()
            if internal or not name.startswith("__")
        ]
        return sorted(out, key=lambda t: t.name)

    def exists(self, name: str) -> bool:
        return self._state(name) is not None

    def describe(self, name: str) -> TopicState:
        """Partitions (leader, replicas, ISR) and every config value the broker reports."""
        state = self._state(name)
        if state is None:
            raise TopicError(f"topic {name} does not exist", code="UNKNOWN_TOPIC_OR_PART")
        return state

    def diff(self, spec: TopicSpec) -> TopicDiff:
        """Desired vs actual for ``spec``, read from the cluster."""
        return diff_topic(spec, self._state(spec.name))

    def log_start_offsets(self, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        """The earliest available offset of each partition (ListOffsets, earliest)."""
        earliest = OffsetSpec.earliest()  # type: ignore[no-untyped-call]  # untyped in the library
        request = {TopicPartition(topic, p): earliest for p in partitions}
        with self._errors("ListOffsets", topic):
            futures = self._admin.list_offsets(request, request_timeout=self.timeout)
            return {tp.partition: self._result(f).offset for tp, f in futures.items()}

    def _state(self, name: str) -> TopicState | None:
        try:
            desc = self._result(
                self._admin.describe_topics(TopicCollection([name]), request_timeout=self.timeout)[
                    name
                ]
            )
        except KafkaException as exc:
            err = rdkafka_error_of(exc)
            if err is not None and err.code() in _MISSING_CODES:
                return None
            raise self._translate(
                exc, operation=f"DescribeTopics {name}", target=self._bootstrap
            ) from exc
        partitions = tuple(
            PartitionPlacement(
                id=p.id,
                leader=p.leader.id if p.leader is not None and p.leader.id >= 0 else None,
                replicas=tuple(n.id for n in p.replicas),
                isr=tuple(n.id for n in p.isr),
            )
            for p in sorted(desc.partitions, key=lambda p: p.id)
        )
        try:
            configs = self._configs(name)
        except TopicError as exc:
            if exc.code == "UNKNOWN_TOPIC_OR_PART":
                return None  # just created: the broker asked has not seen it yet
            raise
        return TopicState(name=name, partitions=partitions, configs=configs)

    def _configs(self, name: str) -> dict[str, str]:
        resource = ConfigResource(ResourceType.TOPIC, name)
        with self._errors("DescribeConfigs", name, error_type=TopicError):
            entries = self._result(
                self._admin.describe_configs([resource], request_timeout=self.timeout)[resource]
            )
        return {k: e.value for k, e in sorted(entries.items()) if e.value is not None}

    def _wait_for(
        self,
        name: str,
        until: Callable[[TopicState], bool] | None = None,
    ) -> TopicState:
        """Describe ``name`` until it exists (and ``until(state)`` holds), within a deadline.

        Metadata and configs reach every broker shortly after a change; this absorbs that
        delay. After the deadline the latest state is returned as it is.
        """
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                state = self._state(name)
            except TopicError as exc:
                # On a cluster, the broker asked for the configs may not know the new topic
                # yet while the one asked for its metadata does.
                if exc.code != "UNKNOWN_TOPIC_OR_PART" or time.monotonic() >= deadline:
                    raise
                state = None
            if state is not None and (until is None or until(state)):
                return state
            if time.monotonic() >= deadline:
                if state is None:
                    raise TopicError(f"topic {name} did not appear within {self.timeout:.0f} s")
                return state
            time.sleep(0.2)
