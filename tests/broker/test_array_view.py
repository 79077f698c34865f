"""ArrayView against the embedded broker: reads the topic, survives bad records, commits nothing."""

from __future__ import annotations

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from cosmic_horizons.array_view import ArraySnapshot, ArrayView
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.packet import encode_packet
from cosmic_horizons.publisher import Publisher
from tests.helpers import create_topic, make_packet, wait_for


def test_reads_from_the_beginning_and_counts_bad_records(settings: KafkaSettings) -> None:
    bootstrap = settings.bootstrap_servers or ""
    create_topic(bootstrap, settings.topic, 2)
    raw = Producer({"bootstrap.servers": bootstrap})
    raw.produce(settings.topic, encode_packet(make_packet(1)), b"element-2-1")
    raw.produce(settings.topic, b"{not json", b"element-x")
    raw.produce(settings.topic, b'{"sourceId": "only"}', b"element-y")
    raw.produce(settings.topic, encode_packet(make_packet(2)), b"element-3-2")
    assert raw.flush(30) == 0
    group = f"test-array-view-{settings.topic[-8:]}"
    with ArrayView(settings, from_beginning=True, group_id=group) as view:

        def all_read() -> ArraySnapshot | None:
            snap = view.snapshot()
            return snap if snap.records == 4 else None

        snap = wait_for(all_read, "four records")
        assert snap.running
        assert snap.undecodable == 2
        assert snap.last_decode_error is not None and "offset" in snap.last_decode_error
        assert [e.element_id for e in snap.elements] == ["element-2-1", "element-3-2"]
        assert [s.site_id for s in snap.sites] == ["site-2", "site-3"]
    assert not view.running
    # The view assigned partitions itself: no group was joined, no offset was committed.
    admin = AdminClient({"bootstrap.servers": bootstrap})
    groups = admin.list_consumer_groups(request_timeout=10).result()
    assert group not in [g.group_id for g in groups.valid]


def test_starts_at_the_end_by_default_and_follows_new_packets(settings: KafkaSettings) -> None:
    bootstrap = settings.bootstrap_servers or ""
    create_topic(bootstrap, settings.topic, 1)
    with Publisher(settings) as pub:
        pub.publish(make_packet(1, element="element-old-1"))
        assert pub.flush(30) == 0
        with ArrayView(settings) as view:
            # The old packet was in the log before the view started: only new ones show.
            def new_seen() -> ArraySnapshot | None:
                pub.publish(make_packet(2, element="element-new-2"))
                pub.flush(10)
                snap = view.snapshot()
                return snap if snap.elements else None

            snap = wait_for(new_seen, "the new packet")
            assert {e.element_id for e in snap.elements} == {"element-new-2"}


def test_a_missing_topic_is_reported_not_created(settings: KafkaSettings) -> None:
    # Some brokers (the embedded one among them) create a topic when asked for its metadata
    # alone; the dashboard must not create element.raw_data with the broker's defaults.
    with ArrayView(settings) as view:

        def reported() -> str | None:
            error = view.snapshot().consumer_error
            return error if error and "not found" in error else None

        wait_for(reported, "the missing topic to be reported")
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers or ""})
    assert settings.topic not in admin.list_topics(timeout=10).topics
