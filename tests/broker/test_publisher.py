"""Publisher against the embedded broker: round trip, partitioning, backpressure, shutdown."""

from __future__ import annotations

import logging
import time
import zlib

import pytest
from confluent_kafka.admin import AdminClient

from cosmic_horizons import publisher as publisher_module
from cosmic_horizons.broker import EmbeddedBroker, find_free_port
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.errors import BrokerUnavailableError, PublishError
from cosmic_horizons.packet import chunk_bytes, decode_packet, encode_packet
from cosmic_horizons.partitioner import PartitionerName
from cosmic_horizons.publisher import Publisher, TopicMissingError
from tests.helpers import consume_all, create_topic, make_packet, wait_for
from tests.unit.test_partitioner import vectors


def all_topics(bootstrap: str) -> set[str]:
    """Every topic of the cluster, listed without naming one (naming one may create it)."""
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics)


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


def _expected(partitioner: PartitionerName, keys: list[str], count: int) -> dict[str, int]:
    """Where the library each partitioner imitates puts ``keys``."""
    if partitioner == "consistent_random":
        return {k: zlib.crc32(k.encode()) % count for k in keys}
    doc = vectors()
    which = "legacy" if partitioner == "kafkajs-legacy" else "default"
    by_key = dict(zip(doc["text_keys"], doc[which][str(count)]["text"], strict=True))
    return {k: by_key[k] for k in keys}


@pytest.mark.parametrize("partitioner", ["java", "kafkajs-legacy", "consistent_random"])
def test_keys_land_where_the_imitated_library_puts_them(
    settings: KafkaSettings, partitioner: PartitionerName
) -> None:
    # java: librdkafka's murmur2_random against KafkaJS's DefaultPartitioner (Java's murmur2);
    # kafkajs-legacy: computed here against KafkaJS's LegacyPartitioner; consistent_random:
    # librdkafka's own placement against CRC32.
    create_topic(settings.bootstrap_servers or "", settings.topic, partitions=7)
    keys = [f"element-{s}-{n}" for s in range(1, 6) for n in range(1, 41)]
    keys += ["élément-1-1", "антенна-7", "望远镜-3-42", "📡-5-263"]
    with Publisher(settings, partitioner=partitioner) as pub:
        assert pub.partitioner == partitioner
        half = len(keys) // 2
        for k in keys[:half]:
            assert pub.publish(make_packet(1, element=k))
        assert (
            pub.publish_many([make_packet(2, element=k) for k in keys[half:]]) == len(keys) - half
        )
        assert pub.publish_encoded(b"element-1-1", encode_packet(make_packet(3)))
    msgs = consume_all(settings.bootstrap_servers or "", settings.topic, len(keys) + 1)
    placed: dict[str, set[int]] = {}
    for m in msgs:
        placed.setdefault((m.key() or b"").decode(), set()).add(m.partition())
    assert placed == {k: {p} for k, p in _expected(partitioner, keys, 7).items()}
    assert len({p for ps in placed.values() for p in ps}) == 7


def test_settings_pick_the_partitioner(settings: KafkaSettings) -> None:
    create_topic(settings.bootstrap_servers or "", settings.topic, partitions=5)
    legacy = settings.with_overrides(partitioner="kafkajs-legacy")
    with Publisher(legacy) as pub:
        assert pub.partitioner == "kafkajs-legacy" and pub.partitions == 5
        for n in range(1, 31):
            pub.publish(make_packet(n, element=f"element-2-{n}"))
    msgs = consume_all(settings.bootstrap_servers or "", settings.topic, 30)
    keys = [f"element-2-{n}" for n in range(1, 31)]
    assert {(m.key() or b"").decode(): m.partition() for m in msgs} == _expected(
        "kafkajs-legacy", keys, 5
    )


def test_kafkajs_legacy_follows_a_new_partition_count(
    settings: KafkaSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The embedded broker cannot add partitions: the topic is recreated larger instead, which
    # is what the publisher sees of growth (a new count in the metadata). The publisher's own
    # periodic re-read must notice (every 30 s; shortened here).
    monkeypatch.setattr(publisher_module.metadata, "METADATA_REFRESH_S", 0.3)
    bootstrap = settings.bootstrap_servers or ""
    create_topic(bootstrap, settings.topic, partitions=2)
    keys = [f"element-4-{n}" for n in range(1, 41)]
    with Publisher(settings, partitioner="kafkajs-legacy") as pub:
        assert pub.partitions == 2
        for k in keys:
            assert pub.publish(make_packet(4, element=k))
        assert pub.flush(30) == 0
        first = consume_all(bootstrap, settings.topic, len(keys))
        assert {(m.key() or b"").decode(): m.partition() for m in first} == _expected(
            "kafkajs-legacy", keys, 2
        )
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.delete_topics([settings.topic])[settings.topic].result(10)
        wait_for(lambda: settings.topic not in all_topics(bootstrap), "topic deleted")
        create_topic(bootstrap, settings.topic, partitions=7)
        wait_for(lambda: pub.partitions == 7, "the publisher to see 7 partitions")
        for k in keys:
            assert pub.publish(make_packet(5, element=k))
        assert pub.flush(30) == 0
    msgs = consume_all(bootstrap, settings.topic, len(keys))
    assert {(m.key() or b"").decode(): m.partition() for m in msgs} == _expected(
        "kafkajs-legacy", keys, 7
    )


def test_missing_topic_is_an_error_and_is_not_created(settings: KafkaSettings) -> None:
    bootstrap = settings.bootstrap_servers or ""
    for partitioner in ("java", "kafkajs-legacy", "consistent_random"):
        with pytest.raises(TopicMissingError) as err:
            Publisher(settings, partitioner=partitioner)  # type: ignore[arg-type]
        assert "horizons topics ensure" in str(err.value)
        assert settings.topic in str(err.value)
    assert settings.topic not in all_topics(bootstrap)


@pytest.mark.parametrize("partitioner", ["java", "kafkajs-legacy"])
def test_a_broker_that_lost_the_topic_does_not_get_it_back_from_the_publisher(
    partitioner: PartitionerName, broker_session: object
) -> None:
    # The embedded broker keeps topics in memory: a restart loses them, as in the incident.
    # The publisher reconnects and keeps producing; it must not recreate the topic with
    # the broker's defaults (4 partitions, where the dev layout has 1).
    port = find_free_port()
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}", topic="lost.topic")
    broker = EmbeddedBroker(port).start()
    try:
        create_topic(settings.bootstrap_servers or "", settings.topic)
        pub = Publisher(
            settings,
            partitioner=partitioner,
            extra_config={"message.timeout.ms": 4000, "topic.metadata.refresh.interval.ms": 500},
        )
        assert pub.publish(make_packet(1))
        assert pub.flush(10) == 0
        broker.stop()
        broker = EmbeddedBroker(port).start()
        for i in range(5):
            pub.publish(make_packet(i))
            time.sleep(0.5)
        report = pub.close(timeout=20)
        assert report.sent == 6 and report.delivered + report.failed == 6
        assert settings.topic not in all_topics(settings.bootstrap_servers or "")
    finally:
        broker.stop()


def test_unreachable_broker_is_reported_at_construction() -> None:
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1", topic="nowhere")
    with pytest.raises(BrokerUnavailableError, match=r"127\.0\.0\.1:1"):
        Publisher(settings, metadata_timeout=2)


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
    pub = Publisher(settings, extra_config={"message.timeout.ms": 1000}, check_topic=False)
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


@pytest.mark.parametrize("encoding", ["binary", "json"])
def test_publish_many_of_large_chunks_goes_in_slices_and_delivers_each(
    settings: KafkaSettings, encoding: str
) -> None:
    from cosmic_horizons.packet_binary import decode_record
    from cosmic_horizons.publisher.encoding import SLICE_BYTES, slice_size

    create_topic(settings.bootstrap_servers or "", settings.topic)
    packets = [make_packet(i) for i in range(20)]
    chunks: list[bytes | None] = [bytes([i]) * 200_000 for i in range(20)]
    chunks[7] = None  # a packet without a chunk among them
    assert slice_size(packets, chunks) == SLICE_BYTES // 200_000 < len(packets)
    with Publisher(settings, encoding=encoding) as pub:  # type: ignore[arg-type]
        assert pub.publish_many(packets, chunks) == 20
        assert pub.flush(20) == 0
    assert pub.snapshot().delivered == 20
    msgs = consume_all(settings.bootstrap_servers or "", settings.topic, 20)
    got = {m.key(): decode_record(m.value(), m.headers()) for m in msgs}
    for p, c in zip(packets, chunks, strict=True):
        back = got[p.element_id.encode()]
        assert back.element_id == p.element_id and back.timestamp == p.timestamp
        assert (back.chunk() if back.data_chunk is not None else None) == c


@pytest.mark.parametrize("encoding", ["binary", "json"])
def test_a_bad_chunk_refuses_a_sliced_tick_before_any_slice_is_queued(
    settings: KafkaSettings, encoding: str
) -> None:
    from cosmic_horizons.errors import PacketError
    from cosmic_horizons.packet_binary import MAX_CHUNK_BYTES

    create_topic(settings.bootstrap_servers or "", settings.topic)
    packets = [make_packet(i) for i in range(10)]
    chunks: list[bytes | None] = [b"x" * 300_000 for _ in range(10)]
    if encoding == "binary":
        chunks[8] = b"x" * (MAX_CHUNK_BYTES + 1)
    else:
        packets[8] = make_packet(8, chunk=chunk_bytes(b"twice"))
    with Publisher(settings, encoding=encoding) as pub:  # type: ignore[arg-type]
        with pytest.raises((PacketError, PublishError)) as caught:
            pub.publish_many(packets, chunks)
        assert pub.snapshot().sent == 0
    assert "data_chunk" in str(caught.value) or "twice" in str(caught.value)


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
    pub = Publisher(settings, extra_config={"reconnect.backoff.ms": 100}, check_topic=False)
    try:
        for i in range(20):
            pub.publish(make_packet(i))
        # Start the broker once the publisher has met it missing (not after a fixed sleep,
        # which a loaded machine can outlast before the first connection attempt is reported).
        deadline = time.monotonic() + 60
        while not any("not ready" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the publisher never reported the broker missing"
            time.sleep(0.1)
        broker.start()
        create_topic(settings.bootstrap_servers or "", settings.topic)  # never auto-created
        report = pub.close(timeout=30)
    finally:
        broker.stop()
    assert report.delivered == 20 and report.failed == 0
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not errors, [r.getMessage() for r in errors]
    assert any("not ready" in r.getMessage() for r in caplog.records)
