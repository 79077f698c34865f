"""Admin connections and the broker check (the spec's ``kafka-broker-api-versions.sh``)."""

from __future__ import annotations

import errno
import socket
import time

import msgspec
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

# confluent_kafka.admin re-exports these without __all__; their own modules satisfy mypy.
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType

from .clients import admin_config
from .config import KafkaSettings
from .errors import (
    AuthenticationError,
    BrokerError,
    BrokerUnavailableError,
    SecurityError,
    from_kafka_error,
    recent_security_error,
)

__all__ = [
    "BrokerCheck",
    "BrokerInfo",
    "check_broker",
    "failure_kind",
    "is_kraft",
    "make_admin",
    "raise_if_refused",
    "refused_everywhere",
]


class BrokerInfo(msgspec.Struct, frozen=True):
    id: int
    host: str
    port: int


class BrokerCheck(msgspec.Struct, frozen=True, kw_only=True):
    """Whether the cluster answered, who it is, and how fast.

    ``controller_id`` is None on a KRaft cluster: its brokers answer Metadata with a random
    live broker as "controller" (clients cannot reach the quorum), not the active controller.
    """

    bootstrap: str
    reachable: bool
    latency_ms: float | None = None
    cluster_id: str | None = None
    controller_id: int | None = None
    brokers: list[BrokerInfo] = []
    topics: int | None = None
    error: str | None = None
    failure: str | None = None
    """Why it is not reachable: ``authentication`` (SASL), ``tls``, or ``unreachable``."""


def make_admin(settings: KafkaSettings, *, timeout_ms: int = 5000) -> AdminClient:
    """An admin client with bounded timeouts (never hangs on a missing broker)."""
    return AdminClient(admin_config(settings, timeout_ms=timeout_ms))


def failure_kind(err: BrokerError) -> str:
    """``authentication``, ``tls`` or ``unreachable``: what a failed connection ran into."""
    if isinstance(err, AuthenticationError):
        return "authentication"
    if isinstance(err, SecurityError):
        return "tls"
    return "unreachable"


def check_broker(
    settings: KafkaSettings, *, timeout: float = 5.0, admin: AdminClient | None = None
) -> BrokerCheck:
    """Ask the cluster for its metadata; never raises for an unreachable broker."""
    bootstrap = settings.require_bootstrap()
    client = admin or make_admin(settings, timeout_ms=int(timeout * 1000))
    started = time.perf_counter()
    try:
        metadata = client.list_topics(timeout=timeout)
    except KafkaException as exc:
        err = from_kafka_error(
            exc, operation="Metadata", target=bootstrap, client=client, bootstrap=bootstrap
        )
        return BrokerCheck(
            bootstrap=bootstrap, reachable=False, error=str(err), failure=failure_kind(err)
        )
    latency = (time.perf_counter() - started) * 1000
    controller = metadata.controller_id if metadata.controller_id >= 0 else None
    if controller is not None and is_kraft(client, controller, timeout):
        controller = None
    brokers = sorted(
        (BrokerInfo(b.id, b.host or "", b.port) for b in metadata.brokers.values()),
        key=lambda b: b.id,
    )
    return BrokerCheck(
        bootstrap=bootstrap,
        reachable=True,
        latency_ms=round(latency, 2),
        cluster_id=metadata.cluster_id,
        controller_id=controller,
        brokers=brokers,
        topics=len([t for t in metadata.topics if not t.startswith("__")]),
    )


def is_kraft(client: AdminClient, broker_id: int, timeout: float) -> bool | None:
    """Whether ``broker_id`` runs in KRaft mode (its ``process.roles`` is set).

    False when it answers without that config (ZooKeeper mode, the embedded broker); None
    when it gives no answer (unknown).
    """
    resource = ConfigResource(ResourceType.BROKER, str(broker_id))
    try:
        future = client.describe_configs([resource], request_timeout=timeout)[resource]
        entries = future.result(timeout=timeout + 1)
    except Exception:  # no answer or no DescribeConfigs: unknown
        return None
    entry = entries.get("process.roles")
    return bool(entry is not None and entry.value)


def require_reachable(settings: KafkaSettings, *, timeout: float = 5.0) -> BrokerCheck:
    """:func:`check_broker`, raising :class:`BrokerUnavailableError` when unreachable.

    A SASL or TLS failure raises its :class:`~cosmic_horizons.errors.SecurityError` instead.
    """
    check = check_broker(settings, timeout=timeout)
    if not check.reachable:
        seen = recent_security_error(check.bootstrap)
        if check.failure != "unreachable" and seen is not None:
            raise seen.at(f"Metadata on {check.bootstrap}")
        raise BrokerUnavailableError(check.error or f"no broker answered at {check.bootstrap}")
    return check


def _address(entry: str) -> tuple[str, int] | None:
    host, sep, port = entry.strip().rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "localhost", int(port)


def refused_everywhere(bootstrap: str, timeout: float = 1.0) -> str | None:
    """Why no bootstrap address can be reached, when that is certain at once (every one
    refuses the connection or does not resolve); None when one accepts or an answer is
    unclear (a slow network is left to the client's own timeouts)."""
    reasons = []
    for entry in bootstrap.split(","):
        address = _address(entry)
        if address is None:
            return None
        try:
            with socket.create_connection(address, timeout=timeout):
                return None
        except socket.gaierror as exc:
            reasons.append(f"cannot resolve {address[0]}: {exc.strerror or exc}")
        except ConnectionRefusedError:
            reasons.append("connection refused")
        except OSError as exc:
            if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                reasons.append(exc.strerror or str(exc))
                continue
            return None  # a timeout or another answer: not certain
    return "; ".join(dict.fromkeys(reasons)) or None


def raise_if_refused(settings: KafkaSettings) -> None:
    """Fail at once with :class:`BrokerUnavailableError` when no bootstrap address can be
    reached (nothing listens there), instead of after a request timeout."""
    bootstrap = settings.require_bootstrap()
    reason = refused_everywhere(bootstrap)
    if reason is not None:
        raise BrokerUnavailableError(
            f"broker unreachable at {bootstrap} ({reason}); check --bootstrap / "
            "KAFKA_BOOTSTRAP_SERVERS and that the broker is running"
        )
