"""TopicAdmin on both engines: ensure, drift, describe, alter, CreatePartitions, DeleteRecords.

The embedded broker (Tansu 0.6.0) lacks CreatePartitions (it answers "unsupported") and drops
the connection on DeleteRecords; its tests assert that this is reported as
UnsupportedByBrokerError naming the operation, and that the topic is left unchanged. On Kafka
the same calls must do what they say.
"""

from __future__ import annotations

import dataclasses

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from cosmic_horizons.broker import find_free_port
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.errors import BrokerUnavailableError, TopicError, UnsupportedByBrokerError
from cosmic_horizons.topics import (
    TopicAdmin,
    TopicSpec,
    delete_records_before,
    desired_topic,
)
from tests.engines import only_kafka, only_tansu
from tests.helpers import consume_all, create_topic, wait_for

DAY_MS = 86_400_000


@pytest.fixture
def admin(settings: KafkaSettings) -> TopicAdmin:
    return TopicAdmin(settings)


@pytest.fixture
def spec(settings: KafkaSettings) -> TopicSpec:
    return desired_topic("dev", settings.topic)


def set_out_of_band(bootstrap: str, topic: str, key: str, value: str) -> None:
    """Change a topic config with a plain AdminClient, as another operator would."""
    resource = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)],
    )
    client = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the answer
    client.incremental_alter_configs([resource])[resource].result(10)
    # Kafka applies it through its metadata log: until then a describe shows the old value.
    # The other operator's change is one made before ours, so wait until it shows.
    plain = ConfigResource(ResourceType.TOPIC, topic)

    def visible() -> bool:
        entry = client.describe_configs([plain])[plain].result(10).get(key)
        return entry is not None and entry.value == value

    wait_for(visible, f"{topic}: {key}={value} visible", timeout=20)


def produce_one_per_batch(bootstrap: str, topic: str, n: int) -> None:
    # One record per batch: the embedded broker's high watermark is exact only then (Kafka's
    # is exact anyway; the same records keep both engines' tests alike).
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "batch.num.messages": 1})
    for i in range(n):
        producer.produce(topic, value=f"record-{i}".encode(), partition=0)
        producer.flush(10)
    assert producer.flush(10) == 0


def test_ensure_creates_the_topic_then_second_ensure_changes_nothing(
    admin: TopicAdmin, spec: TopicSpec
) -> None:
    first = admin.ensure(spec)
    assert first.created
    assert first.before.missing
    assert first.in_sync, first.after.problems()
    state = admin.describe(spec.name)
    assert state.partition_count == 1
    for key, value in spec.configs.items():
        assert state.configs[key] == value

    second = admin.ensure(spec, fix=True)
    assert not second.created
    assert second.applied == ()
    assert not second.changed
    assert second.in_sync
    assert admin.describe(spec.name) == state


def test_out_of_band_drift_is_reported_then_fixed(
    admin: TopicAdmin, spec: TopicSpec, bootstrap: str
) -> None:
    admin.ensure(spec)
    set_out_of_band(bootstrap, spec.name, "retention.ms", str(14 * DAY_MS))

    report = admin.ensure(spec)  # no fix: report only
    assert not report.in_sync
    assert [(d.key, d.desired, d.actual) for d in report.after.configs] == [
        ("retention.ms", "604800000", "1209600000")
    ]
    assert report.applied == ()
    assert admin.describe(spec.name).configs["retention.ms"] == "1209600000"

    fixed = admin.ensure(spec, fix=True)
    assert fixed.in_sync
    assert fixed.applied == ("set retention.ms=604800000 (was 1209600000)",)
    assert admin.describe(spec.name).configs["retention.ms"] == "604800000"
    assert admin.ensure(spec).in_sync


def test_describe_shows_partitions_leader_replicas_isr_and_configs(
    admin: TopicAdmin, spec: TopicSpec
) -> None:
    admin.ensure(dataclasses.replace(spec, partitions=3))
    state = admin.describe(spec.name)
    assert [p.id for p in state.partitions] == [0, 1, 2]
    for p in state.partitions:
        assert p.leader is not None
        assert p.leader in p.replicas
        assert p.leader in p.isr
        assert not p.under_replicated
    assert state.replication_factor == 1
    assert state.configs["compression.type"] == "snappy"
    assert state.configs["cleanup.policy"] == "delete"


def test_describe_and_alter_of_a_missing_topic_raise_and_create_nothing(
    admin: TopicAdmin, topic_name: str
) -> None:
    with pytest.raises(TopicError, match="does not exist") as err:
        admin.describe(topic_name)
    assert err.value.code == "UNKNOWN_TOPIC_OR_PART"
    with pytest.raises(TopicError, match="does not exist"):
        admin.alter_retention(topic_name, 14 * DAY_MS)
    assert not admin.exists(topic_name)
    assert topic_name not in [t.name for t in admin.list()]


def test_alter_retention_sets_time_and_size(admin: TopicAdmin, spec: TopicSpec) -> None:
    admin.ensure(spec)
    changes = admin.alter_retention(spec.name, 14 * DAY_MS, retention_bytes=200 * 10**9)
    assert [(c.key, c.before, c.after) for c in changes] == [
        ("retention.ms", "604800000", "1209600000"),
        ("retention.bytes", "107374182400", "200000000000"),
    ]
    configs = admin.describe(spec.name).configs
    assert configs["retention.ms"] == "1209600000"
    assert configs["retention.bytes"] == "200000000000"


def test_alter_retention_rejects_zero_and_nothing(admin: TopicAdmin, spec: TopicSpec) -> None:
    admin.ensure(spec)
    with pytest.raises(TopicError, match=r"retention\.ms=0"):
        admin.alter_retention(spec.name, 0)
    with pytest.raises(TopicError, match="give retention_ms"):
        admin.alter_retention(spec.name)
    assert admin.describe(spec.name).configs["retention.ms"] == "604800000"


def test_list_shows_user_topics_without_internal_ones(admin: TopicAdmin, spec: TopicSpec) -> None:
    admin.ensure(dataclasses.replace(spec, partitions=2))
    topics = {t.name: t for t in admin.list()}
    assert topics[spec.name].partitions == 2
    assert topics[spec.name].replication_factor == 1
    assert topics[spec.name].under_replicated == 0
    assert not [name for name in topics if name.startswith("__")]


@only_tansu("Kafka implements CreatePartitions (test below)")
def test_create_partitions_unsupported_changes_nothing(
    admin: TopicAdmin, spec: TopicSpec, bootstrap: str
) -> None:
    admin.ensure(spec)
    set_out_of_band(bootstrap, spec.name, "retention.ms", str(14 * DAY_MS))
    wider = dataclasses.replace(spec, partitions=3)
    before = admin.describe(spec.name)

    with pytest.raises(UnsupportedByBrokerError) as err:
        admin.ensure(wider, fix=True)
    assert err.value.operation == "CreatePartitions"
    assert "not supported" in err.value.answer
    assert "CreatePartitions" in str(err.value)
    # Neither the partitions nor the (fixable) config drift were applied.
    assert admin.describe(spec.name) == before
    assert before.configs["retention.ms"] == "1209600000"


@only_kafka("Tansu lacks CreatePartitions (test above)")
def test_ensure_fix_adds_partitions_and_applies_config_drift(
    admin: TopicAdmin, spec: TopicSpec, bootstrap: str
) -> None:
    admin.ensure(spec)
    set_out_of_band(bootstrap, spec.name, "retention.ms", str(14 * DAY_MS))
    fixed = admin.ensure(dataclasses.replace(spec, partitions=3), fix=True)
    assert fixed.in_sync, fixed.after.problems()
    assert "partitions 1 -> 3 (CreatePartitions)" in fixed.applied
    assert "set retention.ms=604800000 (was 1209600000)" in fixed.applied
    state = admin.describe(spec.name)
    assert state.partition_count == 3
    assert state.configs["retention.ms"] == "604800000"


@only_tansu("Kafka implements DeleteRecords (test below)")
def test_delete_records_unsupported_changes_nothing(settings: KafkaSettings) -> None:
    bootstrap = settings.bootstrap_servers or ""
    create_topic(bootstrap, settings.topic)
    produce_one_per_batch(bootstrap, settings.topic, 5)

    with pytest.raises(UnsupportedByBrokerError) as err:
        delete_records_before(settings, settings.topic, {0: 3})
    assert err.value.operation == "DeleteRecords"
    assert "_TRANSPORT" in err.value.answer
    assert "unchanged" in err.value.answer

    admin = TopicAdmin(settings)
    assert admin.log_start_offsets(settings.topic, [0]) == {0: 0}
    values = [m.value() for m in consume_all(bootstrap, settings.topic, 5)]
    assert values == [f"record-{i}".encode() for i in range(5)]


@only_kafka("Tansu lacks DeleteRecords (test above)")
def test_delete_records_moves_the_log_start_and_keeps_the_rest(settings: KafkaSettings) -> None:
    bootstrap = settings.bootstrap_servers or ""
    create_topic(bootstrap, settings.topic)
    produce_one_per_batch(bootstrap, settings.topic, 5)

    assert delete_records_before(settings, settings.topic, {0: 3}) == {0: 3}
    admin = TopicAdmin(settings)
    assert admin.log_start_offsets(settings.topic, [0]) == {0: 3}
    msgs = consume_all(bootstrap, settings.topic, 2)
    assert [(m.offset(), m.value()) for m in msgs] == [(3, b"record-3"), (4, b"record-4")]


def test_delete_records_with_nothing_before_the_log_start_sends_nothing(
    settings: KafkaSettings,
) -> None:
    create_topic(settings.bootstrap_servers or "", settings.topic, partitions=2)
    assert delete_records_before(settings, settings.topic, {0: 0, 1: 0}) == {0: 0, 1: 0}
    assert delete_records_before(settings, settings.topic, {}) == {}


def test_delete_records_rejects_unknown_partitions_and_negative_offsets(
    settings: KafkaSettings,
) -> None:
    create_topic(settings.bootstrap_servers or "", settings.topic)
    with pytest.raises(TopicError, match="no partition 4"):
        delete_records_before(settings, settings.topic, {4: 1})
    with pytest.raises(TopicError, match="offset -1"):
        delete_records_before(settings, settings.topic, {0: -1})
    with pytest.raises(TopicError, match="does not exist"):
        delete_records_before(settings, settings.topic + ".missing", {0: 1})


def test_unreachable_broker_raises_broker_unavailable() -> None:
    nowhere = KafkaSettings(bootstrap_servers=f"127.0.0.1:{find_free_port()}")
    with pytest.raises(BrokerUnavailableError, match="unreachable"):
        TopicAdmin(nowhere, timeout=2).describe("element.raw_data")
