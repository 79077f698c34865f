"""The monitor's broker errors in words: what librdkafka's connection errors become."""

from __future__ import annotations

import time

import pytest

from cosmic_horizons.broker import find_free_port
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.errors import BrokerUnavailableError
from cosmic_horizons.monitor import Monitor
from cosmic_horizons.monitor.monitor import connection_reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "127.0.0.1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused "
            "(after 0ms in state CONNECT)",
            "connection refused",
        ),
        (  # librdkafka folds a repeat of the same error into the first one's tail
            "127.0.0.1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused "
            "(after 0ms in state CONNECT, 1 identical error(s) suppressed)",
            "connection refused",
        ),
        (
            "kafka:9092/bootstrap: Failed to resolve 'kafka:9092': Name or service not known "
            "(after 1ms in state CONNECT)",
            "cannot resolve kafka:9092: name or service not known",
        ),
        (
            "10.0.0.5:9092/1: Connection setup timed out in state CONNECT (after 5000ms in state "
            "CONNECT)",
            "connection setup timed out in state CONNECT",
        ),
        ("", "no answer"),
    ],
)
def test_connection_reason(text: str, reason: str) -> None:
    assert connection_reason(text) == reason


def test_unreachable_broker_is_one_human_line_naming_the_address() -> None:
    address = f"127.0.0.1:{find_free_port()}"
    with Monitor(KafkaSettings(bootstrap_servers=address), timeout=1.0) as mon:
        started = time.monotonic()
        snap = mon.poll()
        assert time.monotonic() - started < 3.0
        assert snap.error == f"broker unreachable at {address} (connection refused)"
        with pytest.raises(BrokerUnavailableError) as info:
            mon.lag()
        message = str(info.value)
        assert message.startswith(f"broker unreachable at {address} (connection refused); ")
        assert "KafkaError{" not in message and "_TRANSPORT" not in message


def test_close_does_not_wait_for_a_call_in_flight_which_releases_the_clients() -> None:
    """A poll or lag call over many groups on a slow broker can hold the monitor for long;
    closing (serve and up on SIGTERM) waits at most CLOSE_WAIT_S, and the call releases the
    admin client itself when it ends."""
    import threading

    from cosmic_horizons.monitor import monitor as monitor_module

    monitor = Monitor(KafkaSettings(bootstrap_servers=f"127.0.0.1:{find_free_port()}"))
    assert monitor._admin is not None
    entered, leave = threading.Event(), threading.Event()

    def call_in_flight() -> None:
        with monitor._locked():
            entered.set()
            leave.wait(30)

    thread = threading.Thread(target=call_in_flight)
    thread.start()
    try:
        assert entered.wait(10)
        started = time.monotonic()
        monitor.close()
        assert time.monotonic() - started < monitor_module.CLOSE_WAIT_S + 5
        assert monitor._lock.locked(), "close() waited for the call to end"
        assert monitor._admin is not None  # not released under the call's feet
    finally:
        leave.set()
        thread.join(10)
    assert monitor._admin is None  # the call released it as it ended
    monitor.close()  # and a second close is harmless
