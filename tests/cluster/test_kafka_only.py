"""What only a real Kafka does, on the three-node cluster: DeleteRecords under ``topics trim``,
retention deleting what the archiver has not read yet, live group members (STALL vs STOP),
and ``topics alter`` as ``kafka-configs`` sees it.

Kafka's own tools (:mod:`tests.cluster.kafka_tools`) are the referee wherever one exists.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.cli.exits import Exit
from cosmic_horizons.cli.main import app
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.packet import encode_packet, packet_headers
from cosmic_horizons.topics import TopicAdmin, desired_topic
from tests.cluster import kafka_tools as kt
from tests.helpers import make_packet, wait_for

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def horizons(*args: str) -> tuple[int, Any]:
    """``horizons ARGS --json`` in this process: exit code and stdout parsed as JSON."""
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.stdout.strip(), f"horizons {' '.join(args)} printed nothing: {result.output}"
    return result.exit_code, json.loads(result.stdout)


def create_topic(
    bootstrap: str, topic: str, partitions: int, configs: dict[str, str] | None = None
) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = NewTopic(topic, partitions, 3, config=configs or {})
    admin.create_topics([new], operation_timeout=20)[topic].result(30)
    wait_for(
        lambda: len(kt_metadata(admin, topic)) == partitions or None, f"{topic} to have leaders"
    )


def kt_metadata(admin: AdminClient, topic: str) -> list[int]:
    info = admin.list_topics(topic, timeout=10).topics.get(topic)
    if info is None or info.error is not None:
        return []
    return [p for p, m in info.partitions.items() if m.leader >= 0]


def produce_packets(bootstrap: str, topic: str, counts: dict[int, int], start: int = 0) -> None:
    """``counts[p]`` valid packets into partition ``p`` (acks=all), all delivered."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    failed: list[str] = []
    n = start
    for partition, count in counts.items():
        for _ in range(count):
            producer.produce(
                topic,
                encode_packet(make_packet(n)),
                partition=partition,
                headers=packet_headers(),
                on_delivery=lambda err, _m: failed.append(str(err)) if err else None,
            )
            n += 1
    assert producer.flush(30) == 0
    assert not failed, failed


def archive_run(bootstrap: str, topic: str, url: str, group: str) -> dict[str, Any]:
    """``horizons archive run --stop-at-end --json`` as its own process; its final stats."""
    cmd = [
        sys.executable, "-m", "cosmic_horizons.cli.main", "archive", "run",
        "--bootstrap", bootstrap, "--topic", topic, "--storage", url, "--group", group,
        "--max-records", "50", "--session-timeout", "6s", "--workers", "0",
        "--stop-at-end", "--json",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats: dict[str, Any] = json.loads(proc.stdout)
    return stats


def low_watermarks(bootstrap: str, topic: str) -> dict[int, int]:
    """Each partition's log start as Kafka's GetOffsetShell (``--time -2``) prints it."""
    return kt.get_offsets(bootstrap, topic, "-2")


# -- topics trim --archived: real DeleteRecords -------------------------------------------


def test_trim_archived_moves_log_start_to_the_archive_s_contiguous_end_never_past_a_gap(
    cluster_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    bootstrap = cluster_bootstrap
    create_topic(bootstrap, topic_name, 2)
    produce_packets(bootstrap, topic_name, {0: 200, 1: 120})
    url = (tmp_path / "archive").as_uri()
    stats = archive_run(bootstrap, topic_name, url, f"archiver-{uuid.uuid4().hex[:6]}")
    assert stats["rows"] == 320 and stats["lost_offsets"] == 0
    # More records after the archiver stopped: in Kafka only, never to be trimmed.
    produce_packets(bootstrap, topic_name, {0: 30, 1: 30}, start=1000)
    store = ArchiveStorage(url)
    files = store.list_files(topic_name)
    ranges = sorted((f.partition, f.start_offset, f.end_offset) for f in files)
    assert ranges == [(0, s, s + 49) for s in range(0, 200, 50)] + [
        (1, 0, 49), (1, 50, 99), (1, 100, 119),
    ]  # fmt: skip
    # A gap in partition 0's archive: offsets 100-149 are in Kafka only now.
    [gap] = [f for f in files if (f.partition, f.start_offset) == (0, 100)]
    store.delete(gap.path)
    assert low_watermarks(bootstrap, topic_name) == {0: 0, 1: 0}
    expected = {0: 100, 1: 120}  # the gap; the archive's end (the high watermark is 150)

    code, plan = horizons(
        "topics", "trim", topic_name, "--archived", "--storage", url, "-b", bootstrap,
        "--dry-run", "--json",
    )  # fmt: skip
    assert code == 0
    assert plan["applied"] is False and plan["new_log_start"] is None
    assert {p["partition"]: p["new_log_start"] for p in plan["partitions"]} == expected
    assert plan["deletes"] == 220
    assert low_watermarks(bootstrap, topic_name) == {0: 0, 1: 0}  # the dry run changed nothing

    code, done = horizons(
        "topics", "trim", topic_name, "--archived", "--storage", url, "-b", bootstrap, "--json"
    )
    assert code == 0, done
    assert done["applied"] is True
    assert {int(p): o for p, o in done["new_log_start"].items()} == expected
    assert low_watermarks(bootstrap, topic_name) == expected  # the referee agrees
    assert kt.get_offsets(bootstrap, topic_name, "-1") == {0: 230, 1: 150}

    # A second trim finds nothing more to delete: the gap holds partition 0 back.
    code, again = horizons(
        "topics", "trim", topic_name, "--archived", "--storage", url, "-b", bootstrap, "--json"
    )
    assert code == 0 and again["deletes"] == 0
    assert low_watermarks(bootstrap, topic_name) == expected


# -- retention overtaking the archiver ------------------------------------------------------


def log_start(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "referee-watermarks"})
    try:
        low, _high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        consumer.close()
    return int(low)


def test_archiver_counts_exactly_the_offsets_retention_deleted_unread(
    cluster_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    bootstrap = cluster_bootstrap
    create_topic(bootstrap, topic_name, 1, {"retention.ms": "2000", "segment.ms": "500"})
    produce_packets(bootstrap, topic_name, {0: 40})
    # The cluster checks retention every second: the 40 records go within a few seconds.
    wait_for(lambda: log_start(bootstrap, topic_name) == 40 or None, "retention to delete", 60)
    # Keep what comes next: a longer retention (raising it needs no confirmation).
    code, _ = horizons("topics", "alter", topic_name, "--retention", "1d", "-b", bootstrap,
                       "--json")  # fmt: skip
    assert code == 0
    produce_packets(bootstrap, topic_name, {0: 25}, start=40)
    assert low_watermarks(bootstrap, topic_name) == {0: 40}

    url = (tmp_path / "archive").as_uri()
    stats = archive_run(bootstrap, topic_name, url, f"archiver-{uuid.uuid4().hex[:6]}")
    # A fresh group: every offset below the log start was deleted before it was archived.
    assert stats["lost_offsets"] == 40
    assert [p["lost_offsets"] for p in stats["partitions"]] == [40]
    assert stats["rows"] == 25
    files = ArchiveStorage(url).list_files(topic_name)
    assert min(f.start_offset for f in files) == 40 == low_watermarks(bootstrap, topic_name)[0]
    assert max(f.end_offset for f in files) == 64


# -- Burrow's STALL (a live member) vs STOP (no member) -------------------------------------


@pytest.fixture
def stuck_member(cluster_bootstrap: str, topic_name: str) -> Iterator[tuple[str, threading.Event]]:
    """A group member that committed 5 of 10 records and then keeps polling, never committing.

    Yields the group and an event that closes the member (it leaves the group) when set.
    """
    create_topic(cluster_bootstrap, topic_name, 1)
    produce_packets(cluster_bootstrap, topic_name, {0: 10})
    group = f"stuck-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(
        {
            "bootstrap.servers": cluster_bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
            "fetch.wait.max.ms": 100,
        }
    )
    consumer.subscribe([topic_name])
    read = 0
    deadline = time.monotonic() + 60
    while read < 5 and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            read += 1
    assert read == 5, "the member did not get its partition within 60 s"
    consumer.commit(offsets=[TopicPartition(topic_name, 0, 5)], asynchronous=False)
    leave = threading.Event()
    errors: list[BaseException] = []

    def keep_polling() -> None:
        try:
            while not leave.is_set():
                consumer.poll(0.2)  # a live member: polls, never commits
        except BaseException as exc:  # pragma: no cover - reported by the test
            errors.append(exc)
        finally:
            consumer.close()

    thread = threading.Thread(target=keep_polling, daemon=True)
    thread.start()
    try:
        yield group, leave
    finally:
        leave.set()
        thread.join(30)
    assert not errors, errors


def lag_status(bootstrap: str, group: str) -> tuple[int, dict[str, Any]]:
    code, groups = horizons(
        "lag", "--group", group, "--json", "--samples", "3", "--interval", "0.5s", "-b", bootstrap
    )
    [one] = groups
    return code, one


def test_a_live_member_that_stops_committing_is_stall_and_a_closed_one_is_stop(
    cluster_bootstrap: str, topic_name: str, stuck_member: tuple[str, threading.Event]
) -> None:
    group, leave = stuck_member
    produce_packets(cluster_bootstrap, topic_name, {0: 20}, start=100)  # the topic grows
    code, stalled = lag_status(cluster_bootstrap, group)
    assert stalled["status"] == "STALL", stalled
    assert stalled["members"] == 1
    [p] = stalled["partitions"]
    assert (p["committed"], p["highWatermark"], p["lag"]) == (5, 30, 25)
    assert p["status"] == "STALL" and "a member owns the partition" in p["rule"]
    assert code == Exit.UNHEALTHY

    leave.set()  # the member closes: it leaves the group, the lag stays
    referee = wait_for(
        lambda: (
            (rows := kt.consumer_group_describe(cluster_bootstrap, group))
            and rows[0].consumer_id is None
            and rows
        ),
        "the member to leave the group",
        30,
    )
    assert (referee[0].current_offset, referee[0].lag) == (5, 25)
    code, stopped = lag_status(cluster_bootstrap, group)
    assert stopped["status"] == "STOP", stopped
    assert stopped["members"] == 0
    assert "no member owns the partition" in stopped["partitions"][0]["rule"]
    assert code == Exit.UNHEALTHY


# -- topics alter --retention -------------------------------------------------------------


def test_topics_alter_retention_is_what_kafka_configs_describes(
    cluster_bootstrap: str, topic_name: str
) -> None:
    create_topic(cluster_bootstrap, topic_name, 1, {"retention.ms": "604800000"})
    assert kt.topic_configs(cluster_bootstrap, topic_name)["retention.ms"] == "604800000"
    code, body = horizons(
        "topics", "alter", topic_name, "--retention", "14d", "-b", cluster_bootstrap, "--json"
    )
    assert code == 0, body
    assert body["changes"] == [
        {"key": "retention.ms", "before": "604800000", "after": "1209600000"}
    ]
    # The spec's `kafka-configs --alter ... --add-config retention.ms=1209600000`, as the
    # tool itself reads it back: set on the topic, not only shown by horizons.
    assert kt.topic_configs(cluster_bootstrap, topic_name)["retention.ms"] == "1209600000"
    described = kt.topics_describe(cluster_bootstrap, topic_name)
    assert described.configs["retention.ms"] == "1209600000"


# -- a topic just created, seen from another broker -------------------------------------------


def test_ensure_creates_and_describes_topics_while_brokers_learn_of_them(
    cluster_bootstrap: str, topic_name: str
) -> None:
    """Right after CreateTopics, a broker that has not seen the topic yet answers
    DescribeConfigs with UNKNOWN_TOPIC_OR_PART: ensure (and the archiver's dead-letter topic)
    must wait for it, not fail."""
    settings = KafkaSettings(bootstrap_servers=cluster_bootstrap, topic=topic_name)
    admin = TopicAdmin(settings)
    for n in range(8):
        spec = desired_topic("prod", f"{topic_name}.{n}")
        result = admin.ensure(spec)
        assert result.created and result.in_sync, result.after.problems()
        assert result.actual is not None
        assert result.actual.configs["min.insync.replicas"] == "2"
