"""Archive read side against the embedded broker: replay round trip, JSON lines, ls, trim."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner

from cosmic_horizons.archiver.archiver import Archiver, RollPolicy
from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.archiver.trim import partition_offsets
from cosmic_horizons.cli.main import app
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.packet import KafkaPayload, chunk_bytes, decode_packet
from cosmic_horizons.publisher import Publisher
from tests.engines import only_kafka, only_tansu
from tests.helpers import consume_all, create_topic, make_packet

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ELEMENTS = [f"element-{s}-{n}" for s in (1, 2) for n in range(1, 5)]  # 8 elements
COUNT = 240


def packets(count: int = COUNT) -> list[KafkaPayload]:
    """Packets 250 ms apart, elements in turn, some with visibility chunks."""
    out = []
    for i in range(count):
        element = ELEMENTS[i % len(ELEMENTS)]
        base = make_packet(
            i, element=element, chunk=chunk_bytes(bytes([i % 256]) * (i % 50)) if i % 3 else None
        )
        moment = START + timedelta(milliseconds=250 * i)
        out.append(
            msgspec.structs.replace(
                base, timestamp=moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            )
        )
    return out


def publish(settings: KafkaSettings, items: list[KafkaPayload]) -> None:
    # One record per batch: the embedded broker's high watermark is exact then, so the
    # archiver's end-of-partition detection sees every record (Kafka's is exact anyway).
    # Idempotent: a retried request must not land behind later ones, since the tests compare
    # replay order with this order (the dev profile's publisher is not idempotent).
    conf = {"linger.ms": 0, "batch.num.messages": 1, "enable.idempotence": True, "acks": "all"}
    with Publisher(settings, extra_config=conf) as pub:
        for p in items:
            assert pub.publish(p)
    report = pub.close()
    assert report.complete and report.delivered == len(items)


def archive(settings: KafkaSettings, store: ArchiveStorage, max_records: int = 25) -> None:
    archiver = Archiver(
        settings,
        store,
        group=f"archiver-{uuid.uuid4().hex[:8]}",
        roll=RollPolicy(max_records=max_records),
        flush_at_end=True,
        stop_at_end=True,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    stop = threading.Event()
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(archiver.run(stop)))
    thread.start()
    thread.join(120)
    if thread.is_alive():
        stop.set()
        thread.join(30)
        raise AssertionError("the archiver did not reach the end of the topic within 120 s")
    assert done, "the archiver failed"


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def archived(
    settings: KafkaSettings, tmp_path: Path
) -> tuple[KafkaSettings, str, list[KafkaPayload]]:
    """A 3-partition topic of COUNT packets, archived to file:// in files of <= 25 offsets."""
    create_topic(settings.bootstrap_servers or "", settings.topic, partitions=3)
    items = packets()
    publish(settings, items)
    url = (tmp_path / "archive").as_uri()
    archive(settings, ArchiveStorage(url))
    return settings, url, items


def test_replay_round_trip_field_by_field(
    archived: tuple[KafkaSettings, str, list[KafkaPayload]], topic_name: str
) -> None:
    settings, url, items = archived
    bootstrap = settings.bootstrap_servers or ""
    dest = f"{topic_name}.replayed"
    create_topic(bootstrap, dest, partitions=1)  # one partition: consumed order = replay order
    result = cli(
        "archive", "replay", "--from", "2026-11-27", "--to", "2026-11-28",
        "--source", settings.topic, "--topic", dest, "--storage", url, "--bootstrap", bootstrap,
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["matched"], summary["delivered"], summary["failed"]) == (COUNT, COUNT, 0)

    msgs = consume_all(bootstrap, dest, COUNT)
    by_timestamp = {p.timestamp: p for p in items}
    replayed = []
    for msg in msgs:
        packet = decode_packet(msg.value() or b"")
        original = by_timestamp[packet.timestamp]
        # every field, one by one, then the whole struct
        for field in msgspec.structs.fields(KafkaPayload):
            assert getattr(packet, field.name) == getattr(original, field.name), field.name
        assert packet.chunk() == original.chunk()
        assert packet == original
        assert msg.key() == original.element_id.encode()
        assert msg.timestamp()[1] == original.timestamp_ms()
        headers = dict(msg.headers() or [])
        assert headers["content-type"] == b"application/json"
        source_topic, partition, offset = headers["replay.source"].decode().rsplit("/", 2)
        assert source_topic == settings.topic and int(partition) in (0, 1, 2)
        assert int(offset) >= 0
        replayed.append(packet)
    # every packet once, in record-time order overall and so per element
    assert [p.timestamp for p in replayed] == [p.timestamp for p in items]
    for element in ELEMENTS:
        assert [p for p in replayed if p.element_id == element] == [
            p for p in items if p.element_id == element
        ]


def test_replay_to_stdout_prints_the_packets(
    archived: tuple[KafkaSettings, str, list[KafkaPayload]],
) -> None:
    settings, url, items = archived
    result = cli(
        "archive", "replay", "--from", "2026-11-27", "--to", "2026-11-28",
        "--source", settings.topic, "--to-stdout", "--storage", url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [decode_packet(line) for line in lines] == items
    assert all('"sourceId"' in line and '"powerUsage"' in line for line in lines)

    # A window [12:00:10, 12:00:20) of one element: exactly its packets timed in there.
    element = ELEMENTS[3]
    result = cli(
        "archive", "replay", "--from", "2026-11-27T12:00:10Z", "--to", "2026-11-27T12:00:20Z",
        "--element", element, "--source", settings.topic, "--to-stdout", "--storage", url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    low, high = START + timedelta(seconds=10), START + timedelta(seconds=20)
    expected = [
        p
        for p in items
        if p.element_id == element and low <= datetime.fromisoformat(p.timestamp) < high
    ]
    assert len(expected) == 5
    assert [decode_packet(line) for line in result.stdout.splitlines()] == expected


def test_replay_into_the_source_topic_is_refused(
    archived: tuple[KafkaSettings, str, list[KafkaPayload]],
) -> None:
    settings, url, _ = archived
    bootstrap = settings.bootstrap_servers or ""
    before = partition_offsets(settings, settings.topic)
    result = cli(
        "archive", "replay", "--from", "2026-11-27", "--to", "2026-11-28",
        "--source", settings.topic, "--storage", url, "--bootstrap", bootstrap,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--into-source" in result.output and "loop" in result.output
    assert partition_offsets(settings, settings.topic) == before


def test_ls_and_verify_over_the_archive(
    archived: tuple[KafkaSettings, str, list[KafkaPayload]],
) -> None:
    settings, url, items = archived
    result = cli("archive", "ls", "--storage", url, "--topic", settings.topic, "--json")
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert listing["totals"]["rows"] == COUNT
    assert {f["partition"] for f in listing["files"]} == {0, 1, 2}
    assert all(f["end_offset"] - f["start_offset"] < 25 for f in listing["files"])
    assert listing["totals"]["first_record_ms"] == items[0].timestamp_ms()
    assert listing["totals"]["last_record_ms"] == items[-1].timestamp_ms()
    # The last 10 s hold 40 packets: only files with records in that window are listed.
    result = cli(
        "archive", "ls", "--storage", url, "--from", "2026-11-27T12:00:50Z",
        "--to", "2026-11-27T12:01:00Z", "--json",
    )  # fmt: skip
    late = json.loads(result.stdout)["files"]
    assert late and all(f["last_record_ms"] >= items[200].timestamp_ms() for f in late)
    assert len(late) < len(listing["files"])

    result = cli("archive", "verify", "--storage", url)
    assert result.exit_code == 0, result.output
    assert "ok" in result.stdout and "no gaps" in result.stdout


@only_tansu("Kafka implements DeleteRecords (test below)")
def test_trim_on_the_embedded_broker_says_deleterecords_is_unsupported(
    archived: tuple[KafkaSettings, str, list[KafkaPayload]],
) -> None:
    settings, url, _ = archived
    bootstrap = settings.bootstrap_servers or ""
    earliest, latest = partition_offsets(settings, settings.topic)
    assert sum(latest.values()) - sum(earliest.values()) == COUNT

    plan = cli(
        "topics", "trim", settings.topic, "--archived", "--storage", url,
        "--bootstrap", bootstrap, "--dry-run", "--json",
    )  # fmt: skip
    assert plan.exit_code == 0, plan.output
    body = json.loads(plan.stdout)
    assert body["applied"] is False and body["deletes"] == COUNT
    assert {p["partition"]: p["new_log_start"] for p in body["partitions"]} == latest

    result = cli(
        "topics", "trim", settings.topic, "--archived", "--storage", url, "--bootstrap", bootstrap
    )
    assert result.exit_code == 3, result.output
    assert "does not support DeleteRecords" in result.output
    assert "nothing was changed" in result.output
    assert partition_offsets(settings, settings.topic) == (earliest, latest)


@only_kafka("Tansu lacks DeleteRecords (test above)")
def test_trim_deletes_exactly_the_archived_records(
    archived: tuple[KafkaSettings, str, list[KafkaPayload]],
) -> None:
    settings, url, _ = archived
    bootstrap = settings.bootstrap_servers or ""
    earliest, latest = partition_offsets(settings, settings.topic)
    assert sum(latest.values()) - sum(earliest.values()) == COUNT
    result = cli(
        "topics", "trim", settings.topic, "--archived", "--storage", url, "--bootstrap", bootstrap
    )
    assert result.exit_code == 0, result.output
    assert f"{COUNT} archived records deleted" in result.output
    assert partition_offsets(settings, settings.topic) == (latest, latest)
    again = cli(
        "topics", "trim", settings.topic, "--archived", "--storage", url,
        "--bootstrap", bootstrap, "--dry-run", "--json",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["deletes"] == 0


def test_missing_topics_are_named(settings: KafkaSettings, tmp_path: Path) -> None:
    bootstrap = settings.bootstrap_servers or ""
    url = tmp_path.as_uri()
    result = cli(
        "archive", "replay", "--from", "-1d", "--to", "now", "--topic", "nowhere.replayed",
        "--storage", url, "--bootstrap", bootstrap,
    )  # fmt: skip
    assert result.exit_code == 6
    assert "'nowhere.replayed' does not exist" in result.output
    result = cli("topics", "trim", settings.topic, "--archived", "--storage", url, "-b", bootstrap)
    assert result.exit_code == 1
    assert f"topic '{settings.topic}' does not exist" in result.output
    result = cli("topics", "trim", settings.topic, "--storage", url, "-b", bootstrap)
    assert result.exit_code == 2 and "--archived" in result.output
