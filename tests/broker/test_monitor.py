"""The monitor against the embedded broker: snapshot, lag, broker loss and recovery, CLI JSON.

The embedded broker reports a high watermark of "base offset of the last batch + 1", short after
a multi-record batch; the monitor corrects it there (test_embedded_watermark_...). The other
tests produce with ``linger.ms=0`` and ``batch.num.messages=1`` (one record per batch) so their
figures do not depend on that correction.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import msgspec
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

from cosmic_horizons.broker import EmbeddedBroker, find_free_port, is_embedded_cluster_id
from cosmic_horizons.cli.main import app
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.errors import BrokerUnavailableError
from cosmic_horizons.monitor import GroupLag, KafkaSnapshot, Monitor
from tests.engines import only_tansu
from tests.helpers import create_topic, fast_consumer

RETENTION_MS = 7 * 24 * 3600 * 1000


def produce_exact(bootstrap: str, topic: str, count: int, start: int = 0) -> Counter[int]:
    """Produce ``count`` records, one per batch; records per partition as delivered."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "batch.num.messages": 1})
    delivered: Counter[int] = Counter()
    errors: list[str] = []

    def on_delivery(err: object, msg: object) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            delivered[msg.partition()] += 1  # type: ignore[attr-defined]

    for n in range(start, start + count):
        producer.produce(topic, key=f"element-{n}", value=b"{}", on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert not errors
    assert sum(delivered.values()) == count
    return delivered


def consume_and_commit(bootstrap: str, group: str, topic: str, expected: int) -> None:
    """Join ``group``, read ``expected`` records from its committed position, commit, leave."""
    consumer: Consumer = fast_consumer(bootstrap, group)
    consumer.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 60
    try:
        while got < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got += 1
        assert got == expected, f"read {got} of {expected}"
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()


def test_snapshot_latest_offset_equals_what_was_produced(
    bootstrap: str, topic_name: str, settings: KafkaSettings, engine: str
) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    config = {"retention.ms": str(RETENTION_MS), "retention.bytes": str(2**30)}
    admin.create_topics([NewTopic(topic_name, 3, 1, config=config)])[topic_name].result(10)
    per_partition = produce_exact(bootstrap, topic_name, 137)

    with Monitor(settings, timeout=5) as mon:
        snap = mon.poll()

    assert snap.connected, snap.error
    assert snap.error is None
    assert snap.latest_offset == 137
    assert snap.partitions == 3
    assert snap.latency_ms is not None and snap.latency_ms > 0
    assert snap.brokers
    # KRaft brokers name a random broker as "controller" (the quorum is elsewhere): no id then.
    assert snap.controller_id == (None if engine == "kafka" else snap.brokers[0].id)
    assert snap.partition_details is not None
    assert {p.partition: p.latest_offset for p in snap.partition_details} == {
        p: per_partition[p] for p in range(3)
    }
    assert all(p.earliest_offset == 0 for p in snap.partition_details)
    assert all(
        p.leader == snap.brokers[0].id and p.isr == p.replicas for p in snap.partition_details
    )
    assert snap.under_replicated_partitions == 0
    assert (snap.retention_ms, snap.retention_bytes) == (RETENTION_MS, 2**30)
    wire = msgspec.json.decode(msgspec.json.encode(snap))
    assert {k: wire[k] for k in ("connected", "latestOffset", "partitions")} == {
        "connected": True,
        "latestOffset": 137,
        "partitions": 3,
    }
    assert wire["latencyMs"] == snap.latency_ms


def produce_batched(bootstrap: str, topic: str, count: int) -> None:
    """Produce ``count`` records in multi-record batches (what a real producer does)."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50})
    for n in range(count):
        producer.produce(topic, key=f"element-{n}", value=b"{}")
    assert producer.flush(30) == 0


@only_tansu("only the embedded broker reports a short high watermark")
def test_embedded_watermark_is_corrected_to_the_true_end_offset(
    bootstrap: str, topic_name: str, settings: KafkaSettings
) -> None:
    create_topic(bootstrap, topic_name, 2)
    produce_batched(bootstrap, topic_name, 600)
    group = f"batched-{topic_name[-8:]}"
    consume_and_commit(bootstrap, group, topic_name, 600)
    raw = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=5)
    assert is_embedded_cluster_id(raw.cluster_id)

    with Monitor(settings, timeout=5) as mon:
        snap = mon.poll()
        assert mon.embedded
        assert snap.latest_offset == 600  # the broker itself reports far less (one per batch)
        (lag,) = mon.lag(group)
        assert lag.total_lag == 0
        assert all(p.high_watermark == p.committed for p in lag.partitions)
        assert sum(p.high_watermark or 0 for p in lag.partitions) == 600
        assert all("past the reported log end" not in p.rule for p in lag.partitions)
        # a second poll answers from what the first one read: no new read while nothing moved
        reader = mon._end_reader
        assert mon.poll().latest_offset == 600 and mon._end_reader is reader


@only_tansu("shows the embedded broker's short watermark through the path for other clusters")
def test_watermark_is_used_as_reported_on_other_clusters(
    bootstrap: str, topic_name: str, settings: KafkaSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Apache Kafka's watermark is exact: no reader, no extra request, the figure as reported.
    # Seen through that path, the embedded broker's short figure and its negative lag show up,
    # and the lag's rule says so instead of a silent 0.
    monkeypatch.setattr("cosmic_horizons.monitor.monitor.is_embedded_cluster_id", lambda _id: False)
    create_topic(bootstrap, topic_name, 1)
    produce_batched(bootstrap, topic_name, 300)
    group = f"reported-{topic_name[-8:]}"
    consume_and_commit(bootstrap, group, topic_name, 300)
    with Monitor(settings, timeout=5) as mon:
        snap = mon.poll()
        assert not mon.embedded and mon._end_reader is None
        assert snap.latest_offset is not None and snap.latest_offset < 300
        (lag,) = mon.lag(group)
        (part,) = lag.partitions
        assert part.lag == 0
        assert f"committed offset 300 is past the reported log end {snap.latest_offset}" in (
            part.rule
        )
        assert mon._end_reader is None


def sample_lag(mon: Monitor, group: str, samples: int) -> GroupLag:
    """Take ``samples`` lag samples, each one at least the monitor's minimum interval after the
    previous, so that every one enters the window."""
    result: list[GroupLag] = []
    for _ in range(samples):
        time.sleep(mon.min_sample_interval + 0.1)
        result = mon.lag(group)
    assert len(result) == 1
    return result[0]


def test_lag_appears_when_a_group_stops_and_drains_when_it_resumes(
    bootstrap: str, topic_name: str, settings: KafkaSettings
) -> None:
    group = f"lagging-{topic_name[-8:]}"
    create_topic(bootstrap, topic_name, 1)
    produce_exact(bootstrap, topic_name, 20)
    consume_and_commit(bootstrap, group, topic_name, 20)

    with Monitor(settings, timeout=5, window=3, min_sample_interval=1.0) as mon:
        caught_up = sample_lag(mon, group, 1)
        assert (caught_up.status, caught_up.total_lag) == ("OK", 0)
        assert caught_up.partitions[0].committed == 20

        # The group stopped consuming; 30 more records arrive.
        produce_exact(bootstrap, topic_name, 30, start=20)
        behind = sample_lag(mon, group, 3)
        part = behind.partitions[0]
        assert (part.committed, part.high_watermark, part.lag) == (20, 50, 30)
        assert (behind.total_lag, behind.max_lag) == (30, 30)
        # The log end was at 20 when first sampled, so the lag has an age.
        assert part.lag_seconds is not None and part.lag_seconds > 0
        assert behind.max_lag_seconds == part.lag_seconds
        assert behind.status == "STOP", part.rule
        assert "no commit moved the offset" in part.rule
        assert group in mon.groups()

        # Asked again at once: answered from a fresh sample that does not enter the window.
        # "At once" is made certain with a long interval: on a loaded machine the broker round
        # trips between two calls can take longer than 1 s.
        window = mon._windows[(group, topic_name, 0)]
        before = list(window)
        mon.min_sample_interval = 3600.0
        again = mon.lag(group)[0]
        mon.min_sample_interval = 1.0
        assert (again.status, again.total_lag) == ("STOP", 30)
        assert list(window) == before

        # It resumes and reads the backlog: lag drains to zero and the status recovers.
        consume_and_commit(bootstrap, group, topic_name, 30)
        drained = sample_lag(mon, group, 1)
        assert (drained.total_lag, drained.status) == (0, "OK")
        assert drained.partitions[0].committed == 50
        assert drained.partitions[0].lag_seconds == 0.0

        every = {g.group: g for g in mon.lag()}
        assert every[group].total_lag == 0


def test_monitor_reports_disconnected_while_broker_is_stopped_and_recovers(
    output_dir: Path,
) -> None:
    broker = EmbeddedBroker(find_free_port(), log_path=output_dir / "tansu.log").start()
    try:
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap, topic="element.raw_data")
        create_topic(broker.bootstrap, "element.raw_data", 1)
        with Monitor(settings, timeout=2) as mon:
            admin = mon._admin
            first = mon.poll()
            assert first.connected and first.partitions == 1

            broker.stop()
            started = time.monotonic()
            down = mon.poll()
            assert time.monotonic() - started < 10  # bounded by the timeout, not hanging
            assert down == KafkaSnapshot(
                connected=False,
                topic="element.raw_data",
                polled_at=down.polled_at,
                error=down.error,
            )
            assert down.error and "unreachable" in down.error
            with pytest.raises(BrokerUnavailableError):
                mon.lag()

            broker.start()
            deadline = time.monotonic() + 60
            up = mon.poll()
            while not up.connected and time.monotonic() < deadline:
                time.sleep(0.5)
                up = mon.poll()
            assert up.connected, up.error
            assert mon._admin is admin  # the same long-lived client reconnected
            assert up.brokers and up.cluster_id == first.cluster_id
            # Tansu keeps topics in memory: after a restart the topic is gone, and says so.
            assert up.partitions is None and up.latest_offset is None
            assert up.error == "topic 'element.raw_data' does not exist"

            create_topic(broker.bootstrap, "element.raw_data", 1)
            again = mon.poll()
            assert (again.connected, again.partitions, again.latest_offset) == (True, 1, 0)
    finally:
        broker.stop()


runner = CliRunner()


def test_cli_json_output_and_exit_codes(bootstrap: str, topic_name: str) -> None:
    create_topic(bootstrap, topic_name, 2)
    produce_exact(bootstrap, topic_name, 11)
    group = f"cli-{topic_name[-8:]}"
    consume_and_commit(bootstrap, group, topic_name, 11)

    result = runner.invoke(app, ["monitor", "--json", "-b", bootstrap, "-t", topic_name])
    assert result.exit_code == 0, result.output
    snap = msgspec.json.decode(result.stdout)
    assert snap["connected"] is True
    assert snap["latestOffset"] == 11
    assert snap["partitions"] == 2
    assert isinstance(snap["latencyMs"], float)
    assert [p["partition"] for p in snap["partitionDetails"]] == [0, 1]

    result = runner.invoke(app, ["lag", "--json", "-g", group, "-n", "1", "-b", bootstrap])
    assert result.exit_code == 0, result.output
    (lag,) = msgspec.json.decode(result.stdout)
    assert (lag["group"], lag["status"], lag["totalLag"]) == (group, "OK", 0)
    assert sum(p["committed"] for p in lag["partitions"]) == 11

    # The group stopped with a backlog: one sample cannot judge it, and says so (not OK, exit 8).
    produce_exact(bootstrap, topic_name, 7, start=11)
    result = runner.invoke(app, ["lag", "--json", "-g", group, "-n", "1", "-b", bootstrap])
    assert result.exit_code == 8, result.output
    (lag,) = msgspec.json.decode(result.stdout)
    assert (lag["status"], lag["totalLag"]) == ("UNKNOWN", 7)
    assert "unknown (one sample)" in lag["rule"]
    lagging = [p for p in lag["partitions"] if p["lag"]]
    assert lagging and all(p["status"] == "UNKNOWN" for p in lagging)

    result = runner.invoke(app, ["lag", "-g", "no-such-group", "-n", "1", "-b", bootstrap])
    assert result.exit_code == 1
    assert "no-such-group" in result.output

    nobody = f"127.0.0.1:{find_free_port()}"
    result = runner.invoke(app, ["monitor", "--json", "--timeout", "1", "-b", nobody])
    assert result.exit_code == 3
    down = msgspec.json.decode(result.stdout)
    assert down["connected"] is False and down["latestOffset"] is None
    result = runner.invoke(app, ["lag", "-n", "1", "--timeout", "1", "-b", nobody])
    assert result.exit_code == 3
    assert "unreachable" in result.output
