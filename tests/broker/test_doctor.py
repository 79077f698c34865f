"""`horizons doctor` on a real broker: a healthy topic, a lagging group (Burrow FAIL),
records deleted before a group read them (tiny retention), dead letters since the last run,
and an unreachable cluster. Results are checked against what the test did to the broker."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

from cosmic_horizons.broker import find_free_port, port_is_free, tansu_binary
from cosmic_horizons.cli.exits import Exit
from cosmic_horizons.cli.main import app
from cosmic_horizons.packet import encode_packet
from tests.engines import only_kafka, only_tansu
from tests.helpers import make_packet, wait_for

runner = CliRunner()


def doctor(bootstrap: str, topic: str, state: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(
        app,
        ["doctor", "-b", bootstrap, "-t", topic, "--state", str(state),
         "--lag-interval", "1s", "--json", *extra],
    )  # fmt: skip
    assert result.stdout.strip(), result.stderr
    return result.exit_code, json.loads(result.stdout)


def by_check(doc: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [r for r in doc["results"] if r["check"] == check]


def produce(bootstrap: str, topic: str, count: int) -> None:
    """``count`` packets timed now (their record timestamps agree: no clock skew)."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for n in range(count):
        packet = msgspec.structs.replace(make_packet(n), timestamp=stamp)
        producer.produce(topic, encode_packet(packet), key=f"element-{n}".encode())
    assert producer.flush(30) == 0


def ensure(bootstrap: str, topic: str, *extra: str) -> None:
    result = runner.invoke(app, ["topics", "ensure", "-b", bootstrap, "-t", topic, *extra])
    assert result.exit_code == 0, result.stdout + result.stderr


def commit(bootstrap: str, group: str, topic: str, offset: int) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    finally:
        consumer.close()


def test_healthy_topic_passes_and_a_stopped_group_fails(
    bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    ensure(bootstrap, topic_name)
    produce(bootstrap, topic_name, 20)
    code, doc = doctor(bootstrap, topic_name, tmp_path / "state.json")
    assert code in (Exit.OK, Exit.PROBLEM), doc  # auto-create may WARN on Kafka's defaults
    levels = {r["check"]: r["level"] for r in doc["results"]}
    for check in ("connect", "brokers", "controller", "listeners", "topic", "replication"):
        assert levels[check] == "OK", by_check(doc, check)
    assert levels["clock"] == "OK", doc  # the packets were just written
    assert doc["exit_code"] == code

    # A group that committed offset 5 of 20 and has no consumer: Burrow STOP -> FAIL, 7.
    group = f"{topic_name}.stopped"
    commit(bootstrap, group, topic_name, 5)
    code, doc = doctor(bootstrap, topic_name, tmp_path / "state.json")
    assert code == Exit.UNHEALTHY, doc
    [lag] = [r for r in by_check(doc, "lag") if group in r["message"]]
    assert lag["level"] == "FAIL" and "STOP" in lag["message"], lag
    assert "lag 15 record(s)" in lag["message"]
    assert f"horizons lag --group {group}" in lag["fix"]
    [room] = [r for r in by_check(doc, "headroom") if group in r["message"]]
    # Just written, 7-day retention: a week of headroom.
    assert room["level"] == "OK" and "deleted in 7.0 d" in room["message"], room


def test_dead_letters_since_the_last_run_warn(
    bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    ensure(bootstrap, topic_name, "--with-dlq")
    state = tmp_path / "state.json"
    _, doc = doctor(bootstrap, topic_name, state)
    assert by_check(doc, "dlq")[0]["level"] == "OK", doc
    producer = Producer({"bootstrap.servers": bootstrap})
    for _ in range(3):  # one batch: the embedded broker's reported end counts batches
        producer.produce(f"{topic_name}.dlq", b"not a packet")
    assert producer.flush(30) == 0
    _, doc = doctor(bootstrap, topic_name, state)
    [dlq] = by_check(doc, "dlq")
    assert dlq["level"] == "WARN" and "+3 dead letter(s) since the last check" in dlq["message"]


@only_kafka("Tansu does not delete segments by retention.ms")
def test_records_deleted_before_a_group_read_them_fail(
    bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    config = {"retention.ms": "1000", "segment.ms": "200", "segment.bytes": "1048576"}
    admin.create_topics([NewTopic(topic_name, 1, 1, config=config)])[topic_name].result(10)
    group = f"{topic_name}.slow"
    produce(bootstrap, topic_name, 10)
    commit(bootstrap, group, topic_name, 2)
    time.sleep(0.5)
    produce(bootstrap, topic_name, 1)  # rolls the segment holding the first ten

    def log_start() -> int | None:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "peek"})
        try:
            low, _ = consumer.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=5)
        finally:
            consumer.close()
        return low if low > 2 else None

    wait_for(log_start, "retention to delete the first segment", 30)
    code, doc = doctor(bootstrap, topic_name, tmp_path / "state.json")
    assert code == Exit.UNHEALTHY, doc
    [room] = [r for r in by_check(doc, "headroom") if group in r["message"]]
    assert room["level"] == "FAIL", room
    assert "deleted by retention before it read them" in room["message"]
    assert "horizons topics alter" in room["fix"]


def test_unreachable_cluster_exits_3_with_one_fail(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["doctor", "-b", "127.0.0.1:9", "--timeout", "1s", "--state", str(tmp_path / "s")]
    )
    assert result.exit_code == Exit.UNREACHABLE, result.stdout + result.stderr
    assert result.stdout.startswith("FAIL connect")
    assert "127.0.0.1:9 did not answer" in result.stdout


def test_with_the_archive_doctor_verifies_it_and_says_what_a_trim_drops(
    bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    ensure(bootstrap, topic_name)
    produce(bootstrap, topic_name, 20)
    storage = (tmp_path / "archive").as_uri()
    run = runner.invoke(
        app,
        ["archive", "run", "-b", bootstrap, "-t", topic_name, "--storage", storage,
         "--group", f"{topic_name}.archiver", "--stop-at-end", "--workers", "0",
         "--max-records", "10"],
    )  # fmt: skip
    assert run.exit_code == 0, run.stdout + run.stderr
    _, doc = doctor(bootstrap, topic_name, tmp_path / "state.json", "--storage", storage)
    [archive] = by_check(doc, "archive")
    assert archive["level"] == "OK" and "2 file(s), no gaps" in archive["message"], archive
    [trim] = [r for r in by_check(doc, "disk") if "archive already holds" in r["message"]]
    assert "holds 20 of the 20 record(s)" in trim["message"], trim
    [lag] = [r for r in by_check(doc, "lag") if f"{topic_name}.archiver" in r["message"]]
    assert lag["level"] == "OK", lag  # the archiver is caught up


@only_tansu("a Tansu process started here can advertise any address; the Kafka fixtures cannot")
def test_a_broker_advertising_an_address_this_host_cannot_reach_fails(tmp_path: Path) -> None:
    # The spec's compose mistake for real: the broker answers on 127.0.0.1 but tells
    # clients to come back at a name that does not resolve here.
    port = find_free_port()
    proc = subprocess.Popen(
        [tansu_binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
         "--advertised-listener-url", f"tcp://kafka.invalid:{port}",
         "--cluster-id", "doctor-advertised", "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: not port_is_free("127.0.0.1", port) or None, "the broker", 15)
        code, doc = doctor(
            f"127.0.0.1:{port}", "element.raw_data", tmp_path / "s", "--timeout", "2s"
        )
        [listeners] = by_check(doc, "listeners")
        assert listeners["level"] == "FAIL", doc
        assert f"advertises kafka.invalid:{port}" in listeners["message"]
        assert "does not resolve" in listeners["message"]
        assert "advertised.listeners" in listeners["fix"]
        assert code == Exit.UNHEALTHY
    finally:
        proc.terminate()
        proc.wait(10)
