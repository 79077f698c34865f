"""kafka-python's admin client, for the calls confluent-kafka does not have: partition
reassignments (KIP-455), DescribeLogDirs and the KRaft quorum (DescribeQuorum).

Its exceptions become this package's :class:`~cosmic_horizons.errors.BrokerError` tree here,
once (:func:`kp_errors`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..config import KafkaSettings
from ..errors import BrokerError, BrokerUnavailableError, UnsupportedByBrokerError

__all__ = ["kafka_python_admin", "kp_errors", "partition_sizes", "replica_sizes"]


def kafka_python_options(settings: KafkaSettings, timeout: float) -> dict[str, Any]:
    """The minimum of the settings kafka-python needs: bootstrap, security, timeouts."""
    opts: dict[str, Any] = {
        "bootstrap_servers": settings.require_bootstrap().split(","),
        "client_id": "cosmic-horizons-scaling",
        "request_timeout_ms": int(timeout * 1000),
        "bootstrap_timeout_ms": int(timeout * 1000),
        "security_protocol": settings.security_protocol,
        "reconnect_backoff_max_ms": 1000,
    }
    if settings.security_protocol.startswith("SASL"):
        opts["sasl_mechanism"] = settings.sasl_mechanism
        opts["sasl_plain_username"] = settings.sasl_username
        if settings.sasl_password is not None:
            opts["sasl_plain_password"] = settings.sasl_password.reveal()
    if settings.security_protocol.endswith("SSL"):
        opts["ssl_cafile"] = settings.ssl_ca_location
        opts["ssl_certfile"] = settings.ssl_certificate_location
        opts["ssl_keyfile"] = settings.ssl_key_location
        opts["ssl_check_hostname"] = settings.ssl_verify_hostname
        if settings.ssl_key_password is not None:
            opts["ssl_password"] = settings.ssl_key_password.reveal()
    return opts


@contextlib.contextmanager
def kp_errors(operation: str, target: str) -> Iterator[None]:
    """kafka-python's errors inside the block as :class:`BrokerError` (or a subclass)."""
    from kafka import errors as kerrors  # type: ignore[import-untyped]

    try:
        yield
    except (
        kerrors.NoBrokersAvailable,
        kerrors.KafkaTimeoutError,
        kerrors.KafkaConnectionError,
    ) as exc:
        raise BrokerUnavailableError(
            f"{operation} on {target}: no broker answered ({exc})"
        ) from exc
    except kerrors.UnsupportedVersionError as exc:
        raise UnsupportedByBrokerError(operation, str(exc)) from exc
    except kerrors.KafkaError as exc:
        retriable = bool(getattr(exc, "retriable", False))
        raise BrokerError(f"{operation} on {target}: {exc}", retriable=retriable) from exc


def kafka_python_admin(settings: KafkaSettings, *, timeout: float = 10.0) -> Any:
    """A kafka-python ``KafkaAdminClient`` on the cluster (close it after use)."""
    from kafka.admin import KafkaAdminClient  # type: ignore[import-untyped]

    with kp_errors("connect", settings.require_bootstrap()):
        return KafkaAdminClient(**kafka_python_options(settings, timeout))


def replica_sizes(admin: Any, target: str) -> dict[tuple[str, int, int], int]:
    """{(topic, partition, broker): bytes of that replica} from DescribeLogDirs."""
    with kp_errors("DescribeLogDirs", target):
        answers = admin.describe_log_dirs()
    sizes: dict[tuple[str, int, int], int] = {}
    for answer in answers:
        broker = int(answer["broker"])
        for log_dir in answer["log_dirs"]:
            for topic in log_dir.get("topics", []):
                for part in topic.get("partitions", []):
                    key = (topic["name"], int(part["partition_index"]), broker)
                    sizes[key] = sizes.get(key, 0) + int(part["partition_size"])
    return sizes


def partition_sizes(replicas: dict[tuple[str, int, int], int]) -> dict[tuple[str, int], int]:
    """{(topic, partition): bytes on its largest replica}."""
    sizes: dict[tuple[str, int], int] = {}
    for (topic, partition, _), size in replicas.items():
        sizes[(topic, partition)] = max(sizes.get((topic, partition), 0), size)
    return sizes
