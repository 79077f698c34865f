"""Every librdkafka client's configuration, built by role.

All of them start from :meth:`KafkaSettings.client_config` (bootstrap, security, the
``error_cb`` and ``logger`` hooks of :func:`~cosmic_horizons.errors.client_hooks`) and add the
preset of their role:

=====================  ============================================  =========================
role                   used by                                       client.id
=====================  ============================================  =========================
producer publisher     ``Publisher``                                 cosmic-horizons-array-element
producer replay        ``horizons archive replay``                   cosmic-horizons-array-element
producer dead-letter   the archiver's dead-letter producer           cosmic-horizons-archiver-dlq
consumer archiver      the archiver                                  cosmic-horizons-archiver
consumer array-view    the dashboard's array view                    cosmic-horizons-dashboard
consumer consume       ``horizons consume``                          cosmic-horizons-console
consumer monitor-end   the monitor's end reader (last offsets)       cosmic-horizons-monitor-end
consumer peek          oldest-record ages (``topics`` commands)      cosmic-horizons-admin
admin admin            topic admin, cluster checks, trim, tuning     cosmic-horizons-admin
admin monitor          the monitor                                   cosmic-horizons-admin
=====================  ============================================  =========================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from .config import KafkaSettings
from .errors import ConfigError
from .partitioner import librdkafka_partitioner

__all__ = [
    "CLIENT_ID",
    "FETCH_WAIT_MS",
    "INITIAL_RETRY_MS",
    "MAX_RETRY_MS",
    "QUEUE_MAX_KBYTES",
    "QUEUE_MAX_MESSAGES",
    "REPLAY_OVERRIDES",
    "RETRIES",
    "AdminRole",
    "ConsumerRole",
    "ProducerRole",
    "admin_config",
    "consumer_config",
    "producer_config",
]

ProducerRole = Literal["publisher", "replay", "dead-letter"]
ConsumerRole = Literal["archiver", "array-view", "consume", "monitor-end", "peek"]
AdminRole = Literal["admin", "monitor"]

#: The spec's ``clientId``.
CLIENT_ID: Final = "cosmic-horizons-array-element"
#: The spec's KafkaJS retry policy: ``retries: 10``, ``initialRetryTime: 1000`` (ms), doubling
#: up to KafkaJS's default ``maxRetryTime`` of 30 s.
RETRIES: Final = 10
INITIAL_RETRY_MS: Final = 1000
MAX_RETRY_MS: Final = 30_000
#: Local queue bounds: when full, publish() waits for deliveries (backpressure).
QUEUE_MAX_MESSAGES: Final = 100_000
QUEUE_MAX_KBYTES: Final = 256 * 1024
#: How long a broker may hold a fetch that finds no new record (``fetch.wait.max.ms``) for the
#: consumers that follow the live stream (archiver, array view, ``consume``). Kafka answers as
#: soon as a record arrives; Tansu holds the fetch for the whole wait, so librdkafka's default
#: of 500 ms would put p50 ~130 ms, p99 ~260 ms between publish and consume there.
FETCH_WAIT_MS: Final = 10
#: ``archive replay`` publishes idempotently: retries keep record-time order.
REPLAY_OVERRIDES: Final[Mapping[str, str | int | float | bool]] = {
    "enable.idempotence": True,
    "acks": "all",
}


def producer_config(
    settings: KafkaSettings,
    role: ProducerRole = "publisher",
    *,
    queue_max_messages: int = QUEUE_MAX_MESSAGES,
    queue_max_kbytes: int = QUEUE_MAX_KBYTES,
) -> dict[str, Any]:
    """The librdkafka producer settings of ``role``.

    ``publisher``: the spec's retry policy, the topic's compression and the partitioner of
    ``settings``; the profile picks durability (prod: idempotent, ``acks=all``; dev:
    ``acks=1``). ``replay``: the publisher's, always idempotent with ``acks=all``.
    ``dead-letter``: idempotent, ``acks=all``, ``linger.ms=5``.
    """
    if role == "dead-letter":
        conf = settings.client_config("cosmic-horizons-archiver-dlq")
        conf.update({"acks": "all", "enable.idempotence": True, "linger.ms": 5})
        return conf
    if queue_max_messages < 1 or queue_max_kbytes < 1:
        raise ConfigError("producer queue bounds must be positive")
    # Imported here: the topics package builds admin clients through this module.
    from .topics.models import desired_topic

    conf = settings.client_config(CLIENT_ID)
    conf.update(
        {
            # Keys placed as the topic's other producers place them (settings.partitioner):
            # murmur2_random is Java's; kafkajs-legacy records carry their partition.
            "partitioner": librdkafka_partitioner(settings.partitioner),
            # A Metadata request naming a missing topic must not create it with the broker's
            # defaults (librdkafka producers ask for it by default).
            "allow.auto.create.topics": False,
            "compression.type": desired_topic(settings.profile).compression,
            "retries": RETRIES,
            "retry.backoff.ms": INITIAL_RETRY_MS,
            "retry.backoff.max.ms": MAX_RETRY_MS,
            "reconnect.backoff.ms": INITIAL_RETRY_MS,
            "reconnect.backoff.max.ms": MAX_RETRY_MS,
            # Long enough for all 10 retries with their backoff (1+2+4+8+16+30*5 s).
            "message.timeout.ms": 300_000,
            "linger.ms": 5,
            "queue.buffering.max.messages": queue_max_messages,
            "queue.buffering.max.kbytes": queue_max_kbytes,
        }
    )
    if settings.profile == "prod":
        conf["enable.idempotence"] = True
        conf["acks"] = "all"
    else:
        conf["acks"] = "1"  # one replica in dev: the same guarantee as "all", one round-trip less
    if role == "replay":
        conf.update(REPLAY_OVERRIDES)
    return conf


def consumer_config(
    settings: KafkaSettings,
    role: ConsumerRole,
    *,
    group: str,
    from_beginning: bool = False,
    auto_commit: bool = False,
    socket_timeout_ms: int = 10_000,
    setup_timeout_ms: int = 5000,
    session_timeout_ms: int = 10_000,
    heartbeat_interval_ms: int = 1_000,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The librdkafka consumer settings of ``role``, in consumer group ``group``.

    ``archiver``: manual offset store and commits, read_committed, large fetches; its
    ``session_timeout_ms``/``heartbeat_interval_ms`` are the archiver's options.
    ``array-view``: no commits, short timeouts, from the start or the end
    (``from_beginning``). ``consume``: commits only with ``auto_commit`` (a named group), TLS
    handshakes bounded by ``setup_timeout_ms``. These three follow the live stream: their
    fetch wait is :data:`FETCH_WAIT_MS`. ``monitor-end``: reads the last
    records (``fetch.wait.max.ms=10``, partition EOF, ``socket_timeout_ms``); ``peek``: reads
    a partition's first record (``socket_timeout_ms``). ``extra`` is merged last.
    """
    conf: dict[str, Any]
    if role == "archiver":
        conf = settings.client_config("cosmic-horizons-archiver")
        conf.update(
            {
                "group.id": group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": True,
                "isolation.level": "read_committed",
                "session.timeout.ms": session_timeout_ms,
                "heartbeat.interval.ms": heartbeat_interval_ms,
                "max.poll.interval.ms": 300_000,
                "queued.min.messages": 200_000,
                "fetch.max.bytes": 64 * 1024 * 1024,
                "max.partition.fetch.bytes": 16 * 1024 * 1024,
                "fetch.wait.max.ms": FETCH_WAIT_MS,
            }
        )
    elif role == "array-view":
        conf = settings.client_config("cosmic-horizons-dashboard")
        conf.update(
            {
                "group.id": group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest" if from_beginning else "latest",
                # Short timeouts: a dead broker must not wedge the view, and the embedded
                # broker answers these promptly.
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 500,
                "socket.connection.setup.timeout.ms": 5000,
                "reconnect.backoff.max.ms": 2000,
                "fetch.wait.max.ms": FETCH_WAIT_MS,
                "log_level": 0,
            }
        )
    elif role == "consume":
        conf = settings.client_config("cosmic-horizons-console")
        conf.update(
            {
                "group.id": group,
                "auto.offset.reset": "earliest" if from_beginning else "latest",
                "enable.auto.commit": auto_commit,
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 500,
                # Shorter than the metadata request, so a TLS handshake that hangs is named.
                "socket.connection.setup.timeout.ms": setup_timeout_ms,
                "fetch.wait.max.ms": FETCH_WAIT_MS,
            }
        )
    elif role == "monitor-end":
        conf = settings.client_config("cosmic-horizons-monitor-end")
        conf.update(
            {
                "group.id": group,  # never joined, never committed
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "isolation.level": "read_uncommitted",
                "auto.offset.reset": "error",
                "fetch.wait.max.ms": 10,
                "socket.timeout.ms": socket_timeout_ms,
                "log_level": 0,
            }
        )
    elif role == "peek":
        conf = {
            **settings.client_config("cosmic-horizons-admin"),
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "socket.timeout.ms": socket_timeout_ms,
        }
    else:  # pragma: no cover - the Literal covers every role
        raise ConfigError(f"unknown consumer role {role!r}")
    conf.update(extra or {})
    return conf


def admin_config(
    settings: KafkaSettings, *, timeout_ms: int = 5000, role: AdminRole = "admin"
) -> dict[str, Any]:
    """The librdkafka admin-client settings: bounded timeouts (never hangs on a missing broker).

    ``admin`` bounds a connection's setup to three quarters of ``timeout_ms`` (at least 1 s),
    so that a TLS handshake that never completes is seen before the request gives up;
    ``monitor`` (the monitor's client) bounds it to ``timeout_ms``.
    """
    conf = settings.client_config("cosmic-horizons-admin")
    setup = max(1000, timeout_ms * 3 // 4) if role == "admin" else timeout_ms
    conf.update(
        {
            "socket.timeout.ms": timeout_ms,
            "socket.connection.setup.timeout.ms": setup,
            "reconnect.backoff.max.ms": 1000,
        }
    )
    return conf
