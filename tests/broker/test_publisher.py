"""Publisher against the embedded broker: round trip, partitioning, backpressure, shutdown."""

from __future__ import annotations

import logging
import time

import pytest

from cosmic_horizons.broker import EmbeddedBroker, find_free_port
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.packet import chunk_bytes, decode_packet, encode_packet
from cosmic_horizons.publisher import Publisher
from tests.helpers import consume_all, create_topic, make_packet
from tests.unit.test_partitioner import java_partition


def test_round_trip_every_field_equal(settings: KafkaSettings) -> None:
    create_topic(settings.bootstrap_servers or "", settings.topic)
    packets = [make_packet(i, chunk=chunk_bytes(bytes(range(i % 256)) * 3)) for i in range(50)]
    packets.append(make_packet(99))  # no data_chunk at all
    with Publisher(settings) as pub:
        for p in packets:
            assert pub.publish(p)
        assert pub.flush(10) == 0
    snap = pub.snapshot()
    assert (snap.sent, snap.delivered, snap.failed) == (51, 51, 0)
    msgs = consume_all(settings.bootstrap_servers or "", settings.topic, len(packets))
    by_key = {m.key(): m for m in msgs}
    for p in packets:
        msg = by_key[p.element_id.encode()]
        assert decode_packet(msg.value() or b"") == p
        assert msg.timestamp()[1] == p.timestamp_ms()
        assert dict(msg.headers() or []) == {
            "content-type": b"application/json",
            "schema-version": b"1",
        }


def test_keys_land_on_java_murmur2_partition(settings: KafkaSettings) -> None:
    create_topic(settings.bootstrap_servers or "", settings.topic, partitions=3)
    elements = [f"element-{s}-{n}" for s in range(1, 6) for n in range(1, 21)]
    with Publisher(settings) as pub:
        for e in elements:
            pub.publish(make_packet(1, element=e))
    msgs = consume_all(settings.bootstrap_servers or "", settings.topic, len(elements))
    placed = {(m.key() or b"").decode(): m.partition() for m in msgs}
    assert placed == {e: java_partition(e.encode(), 3) for e in elements}
    assert len(set(placed.values())) == 3


def test_shutdown_flushes_everything_queued(settings: KafkaSettings) -> None:
    create_topic(settings.bootstrap_servers or "", settings.topic)
    # A long linger keeps packets in the local queue until close() flushes them.
    pub = Publisher(settings, extra_config={"linger.ms": 2000})
    for i in range(500):
        pub.publish(make_packet(i))
    assert pub.queued() > 0
    report = pub.close(timeout=20)
    assert report.complete and report.delivered == 500 and report.undelivered_at_close == 0
    consume_all(settings.bootstrap_servers or "", settings.topic, 500)


def test_undeliverable_packets_are_counted_failed_not_dropped(broker_session: object) -> None:
    # Nothing listens on this port: every packet must end as a counted failure at close.
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1", topic="nowhere")
    pub = Publisher(settings, extra_config={"message.timeout.ms": 1000})
    for i in range(20):
        pub.publish(make_packet(i))
    report = pub.close(timeout=5)
    assert report.sent == 20 and report.delivered == 0 and report.failed == 20
    assert pub.snapshot().last_error


def test_backpressure_waits_instead_of_dropping(settings: KafkaSettings) -> None:
    create_topic(settings.bootstrap_servers or "", settings.topic)
    pub = Publisher(settings, extra_config={"queue.buffering.max.messages": 10, "linger.ms": 50})
    for i in range(300):
        assert pub.publish(make_packet(i))
    report = pub.close(timeout=20)
    assert pub.backpressure_waits > 0
    assert report.delivered == 300 and report.failed == 0


def test_publish_many_counts_and_delivers_each_packet(settings: KafkaSettings) -> None:
    create_topic(settings.bootstrap_servers or "", settings.topic)
    packets = [make_packet(i, chunk=chunk_bytes(bytes([i % 256]) * i)) for i in range(263)]
    with Publisher(settings) as pub:
        assert pub.publish_many(packets) == 263
        assert pub.publish_many([]) == 0
        assert pub.flush(10) == 0
        snap = pub.snapshot()
    assert (snap.sent, snap.delivered, snap.failed, snap.in_flight) == (263, 263, 0, 0)
    assert snap.bytes == sum(len(encode_packet(p)) for p in packets)
    msgs = consume_all(settings.bootstrap_servers or "", settings.topic, 263)
    got = {m.value(): decode_packet(m.value() or b"") for m in msgs}
    assert got == {encode_packet(p): p for p in packets}


def test_oversized_record_is_a_counted_failure(settings: KafkaSettings) -> None:
    create_topic(settings.bootstrap_servers or "", settings.topic)
    big = make_packet(1, chunk=chunk_bytes(b"\0" * 300_000))
    with Publisher(settings, extra_config={"message.max.bytes": 100_000}) as pub:
        assert pub.publish_many([make_packet(0), big, make_packet(2)]) == 2
        assert pub.flush(10) == 0
    snap = pub.snapshot()
    assert (snap.sent, snap.delivered, snap.failed) == (3, 2, 1)
    assert snap.last_error and "MSG_SIZE_TOO_LARGE" in snap.last_error


def test_broker_starting_late_is_not_logged_as_error(caplog: pytest.LogCaptureFixture) -> None:
    # The spec ignores "Metadata" errors while the broker starts: publish before it listens.
    port = find_free_port()
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}", topic="late.start")
    caplog.set_level(logging.DEBUG, logger="cosmic_horizons")
    broker = EmbeddedBroker(port)
    pub = Publisher(settings, extra_config={"reconnect.backoff.ms": 100})
    try:
        for i in range(20):
            pub.publish(make_packet(i))
        # Start the broker once the publisher has met it missing (not after a fixed sleep,
        # which a loaded machine can outlast before the first connection attempt is reported).
        deadline = time.monotonic() + 60
        while not any("not ready" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the publisher never reported the broker missing"
            time.sleep(0.1)
        broker.start()  # the topic is auto-created by the broker on first use
        report = pub.close(timeout=30)
    finally:
        broker.stop()
    assert report.delivered == 20 and report.failed == 0
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not errors, [r.getMessage() for r in errors]
    assert any("not ready" in r.getMessage() for r in caplog.records)
