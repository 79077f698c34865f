"""Why deliveries stopped: what the cluster says about the topic's partitions; and
librdkafka's own log, kept at debug level."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    ResourceType,
)

from ..clients import CLIENT_ID, MAX_RETRY_MS
from ..config import KafkaSettings
from ..topics.models import desired_topic

__all__ = ["LIBRDKAFKA_LOG", "why_stalled"]


class _DebugLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """librdkafka's own log, at debug level: its errors also reach ``error_cb``, classified."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        super().log(logging.DEBUG, msg, *args, **kwargs)


LIBRDKAFKA_LOG = _DebugLog(logging.getLogger("cosmic_horizons.librdkafka"))


def why_stalled(settings: KafkaSettings, topic_name: str, acks_all: bool) -> str | None:
    """What the cluster says about a stall (leaderless partitions, too few in-sync
    replicas for acks=all); None when it does not answer. A client of its own: the
    producer's connections are busy retrying."""
    admin = AdminClient({**settings.client_config(CLIENT_ID), "log_level": 0})
    try:
        # Every topic, none named: a Metadata request naming a missing topic creates it.
        topic = admin.list_topics(timeout=3.0).topics[topic_name]
    except (KafkaException, KeyError):
        return None
    min_isr = int(desired_topic(settings.profile).configs.get("min.insync.replicas", 1))
    with contextlib.suppress(KafkaException, KeyError, ValueError, TimeoutError):
        resource = ConfigResource(ResourceType.TOPIC, topic_name)
        [future] = admin.describe_configs([resource], request_timeout=3.0).values()
        min_isr = int(future.result(4.0)["min.insync.replicas"].value)
    leaderless = sorted(p for p, m in topic.partitions.items() if m.leader < 0)
    short = sorted(p for p, m in topic.partitions.items() if len(m.isrs) < min_isr)
    parts = []
    if leaderless:
        parts.append(f"partitions {leaderless} have no leader")
    if short and acks_all:
        isr = {p: sorted(topic.partitions[p].isrs) for p in short}
        parts.append(
            f"partitions {short} have fewer in-sync replicas {isr} than "
            f"min.insync.replicas={min_isr}: the brokers refuse acks=all writes "
            "(NOT_ENOUGH_REPLICAS)"
        )
    return "; ".join(parts) or (
        "every partition has a leader and enough in-sync replicas: waiting for "
        f"acknowledgements or for the retry backoff (up to {MAX_RETRY_MS // 1000} s)"
    )
