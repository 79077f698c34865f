"""kafka-python's admin client, for the calls confluent-kafka does not have: partition
reassignments (KIP-455) and the KRaft quorum (DescribeQuorum).

The options and the error translation are :mod:`cosmic_horizons.topics.usage`'s (the one
KafkaSettings -> kafka-python mapping); bytes per replica come from its DescribeLogDirs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..config import KafkaSettings
from ..topics.usage import kafka_python_config, translate_kafka_python_error

__all__ = ["kafka_python_admin", "kp_errors"]


@contextlib.contextmanager
def kp_errors(operation: str, target: str) -> Iterator[None]:
    """kafka-python's errors inside the block as this package's BrokerError tree."""
    from kafka.errors import KafkaError

    try:
        yield
    except (KafkaError, OSError) as exc:
        raise translate_kafka_python_error(exc, operation, target) from exc


def kafka_python_admin(settings: KafkaSettings, *, timeout: float = 10.0) -> Any:
    """A kafka-python ``KafkaAdminClient`` on the cluster (close it after use)."""
    from kafka.admin import KafkaAdminClient

    conf = kafka_python_config(settings, client_id="cosmic-horizons-scaling", timeout_s=timeout)
    with kp_errors("connect", settings.require_bootstrap()):
        return KafkaAdminClient(**conf)
