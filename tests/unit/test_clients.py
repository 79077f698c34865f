"""Every librdkafka client config comes from cosmic_horizons.clients, one preset per role."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from cosmic_horizons import clients
from cosmic_horizons.cli.archive_read import REPLAY_PRODUCER
from cosmic_horizons.config import KafkaSettings

SETTINGS = KafkaSettings(bootstrap_servers="127.0.0.1:1")


def _own(conf: dict[str, Any]) -> dict[str, Any]:
    """The preset's keys: without the shared bootstrap/security keys and hooks."""
    shared = {"bootstrap.servers", "security.protocol", "error_cb", "logger"}
    return {k: v for k, v in conf.items() if k not in shared}


def _has_hooks(conf: dict[str, Any]) -> bool:
    return callable(conf["error_cb"]) and conf["logger"] is not None


def test_consumer_presets_keep_their_values() -> None:
    assert _own(clients.consumer_config(SETTINGS, "array-view", group="g")) == {
        "client.id": "cosmic-horizons-dashboard",
        "group.id": "g",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "latest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "socket.connection.setup.timeout.ms": 5000,
        "reconnect.backoff.max.ms": 2000,
        "fetch.wait.max.ms": clients.FETCH_WAIT_MS,
        "log_level": 0,
    }
    assert _own(
        clients.consumer_config(SETTINGS, "monitor-end", group="m", socket_timeout_ms=3000)
    ) == {
        "client.id": "cosmic-horizons-monitor-end",
        "group.id": "m",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "isolation.level": "read_uncommitted",
        "auto.offset.reset": "error",
        "fetch.wait.max.ms": 10,
        "socket.timeout.ms": 3000,
        "log_level": 0,
    }
    assert _own(
        clients.consumer_config(
            SETTINGS, "consume", group="c", from_beginning=True, setup_timeout_ms=7000
        )
    ) == {
        "client.id": "cosmic-horizons-console",
        "group.id": "c",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "socket.connection.setup.timeout.ms": 7000,
        "fetch.wait.max.ms": clients.FETCH_WAIT_MS,
    }
    archiver = clients.consumer_config(
        SETTINGS, "archiver", group="a", session_timeout_ms=9000, extra={"fetch.max.bytes": 1}
    )
    assert archiver["client.id"] == "cosmic-horizons-archiver"
    assert archiver["isolation.level"] == "read_committed"
    assert archiver["session.timeout.ms"] == 9000 and archiver["heartbeat.interval.ms"] == 1000
    assert archiver["fetch.max.bytes"] == 1  # extra is merged last
    peek = clients.consumer_config(SETTINGS, "peek", group="p", socket_timeout_ms=2000)
    assert peek["client.id"] == "cosmic-horizons-admin" and peek["socket.timeout.ms"] == 2000


@pytest.mark.parametrize("role", ["archiver", "array-view", "consume"])
def test_every_live_consumer_sets_a_short_fetch_wait(role: clients.ConsumerRole) -> None:
    # librdkafka's default is 500 ms, which Tansu holds in full: p50 ~130 ms publish to consume.
    conf = clients.consumer_config(SETTINGS, role, group="g")
    assert conf["fetch.wait.max.ms"] == clients.FETCH_WAIT_MS <= 50
    Consumer(conf).close()  # librdkafka takes it


def test_admin_presets_bound_the_connection_setup() -> None:
    admin = clients.admin_config(SETTINGS, timeout_ms=8000)
    assert admin["socket.connection.setup.timeout.ms"] == 6000
    assert (
        clients.admin_config(SETTINGS, timeout_ms=800)["socket.connection.setup.timeout.ms"] == 1000
    )
    monitor = clients.admin_config(SETTINGS, timeout_ms=8000, role="monitor")
    assert monitor["socket.connection.setup.timeout.ms"] == 8000
    assert monitor["socket.timeout.ms"] == admin["socket.timeout.ms"] == 8000


def test_replay_and_dead_letter_producers() -> None:
    publisher = clients.producer_config(SETTINGS)
    replay = clients.producer_config(SETTINGS, "replay")
    assert replay == {
        **publisher,
        **REPLAY_PRODUCER,
        "error_cb": replay["error_cb"],
        "logger": replay["logger"],
    }
    assert replay["enable.idempotence"] is True and replay["acks"] == "all"
    dlq = clients.producer_config(SETTINGS, "dead-letter")
    assert _own(dlq) == {
        "client.id": "cosmic-horizons-archiver-dlq",
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
    }


@pytest.mark.parametrize(
    "conf",
    [
        clients.producer_config(SETTINGS),
        clients.producer_config(SETTINGS, "replay"),
        clients.producer_config(SETTINGS, "dead-letter"),
        *(
            clients.consumer_config(SETTINGS, role, group="g")
            for role in ("archiver", "array-view", "consume", "monitor-end", "peek")
        ),
        clients.admin_config(SETTINGS),
        clients.admin_config(SETTINGS, role="monitor"),
    ],
)
def test_every_preset_carries_the_hooks_and_librdkafka_accepts_it(conf: dict[str, Any]) -> None:
    assert _has_hooks(conf)
    if "group.id" in conf:
        Consumer(conf).close()
    elif "acks" in conf:
        Producer(conf).flush(0)
    else:
        AdminClient(conf)
