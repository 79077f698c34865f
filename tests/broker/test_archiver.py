"""The archiver against the embedded broker: exactly once, dead letters, crashes, rebalances."""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cosmic_horizons.archiver.archiver import Archiver, RollPolicy
from cosmic_horizons.archiver.fileformat import (
    ArchivedRecord,
    ArchiveFile,
    decode_parquet,
    records_from_table,
)
from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.cli.archive import CRASH_HOOK_ENV
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.packet import (
    MAX_DATA_CHUNK_CHARS,
    KafkaPayload,
    encode_packet,
    packet_headers,
)
from cosmic_horizons.topics.models import dlq_topic_name
from tests.helpers import consume_all, create_topic, fast_consumer, make_packet, wait_for

FAST = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 500}
ROOT = Path(__file__).resolve().parents[2]


# -- helpers -------------------------------------------------------------------------------


def produce(
    bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes | None]]
) -> dict[tuple[int, int], tuple[bytes | None, bytes | None]]:
    """Produce raw (key, value) records; {(partition, offset): (key, value)} as delivered."""
    delivered: dict[tuple[int, int], tuple[bytes | None, bytes | None]] = {}
    failed: list[str] = []

    def on_delivery(err: Any, msg: Message) -> None:
        if err is not None:
            failed.append(str(err))
        else:
            delivered[(msg.partition(), msg.offset())] = (msg.key(), msg.value())  # type: ignore[index]

    producer = Producer(
        {"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 5}
    )
    for key, value in records:
        while True:
            try:
                producer.produce(
                    topic, value, key, on_delivery=on_delivery, headers=packet_headers()
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(60) == 0
    assert not failed, failed
    return delivered


def packet_records(n: int, *, start: int = 0) -> list[tuple[bytes | None, bytes | None]]:
    out: list[tuple[bytes | None, bytes | None]] = []
    for i in range(start, start + n):
        chunk = base64.b64encode(i.to_bytes(4, "big") * 4).decode() if i % 2 else None
        p = make_packet(i, chunk=chunk)
        out.append((p.element_id.encode(), encode_packet(p)))
    return out


def read_archive(
    storage: ArchiveStorage, topic: str
) -> tuple[list[ArchiveFile], list[ArchivedRecord]]:
    files = storage.list_files(topic)
    rows: list[ArchivedRecord] = []
    for f in files:
        table = decode_parquet(storage.read(f.path))
        rows.extend(records_from_table(table))
    return files, rows


def assert_exactly_once(
    storage: ArchiveStorage,
    topic: str,
    expected: dict[tuple[int, int], tuple[bytes | None, bytes | None]],
) -> list[ArchiveFile]:
    """Every expected record is archived once, nothing else is, ranges are contiguous."""
    files, rows = read_archive(storage, topic)
    coords = Counter((r.partition, r.offset) for r in rows)
    dupes = {k: v for k, v in coords.items() if v > 1}
    assert not dupes, f"archived more than once: {sorted(dupes)[:10]}"
    missing = sorted(set(expected) - set(coords))
    assert not missing, f"{len(missing)} records not archived, first {missing[:10]}"
    extra = sorted(set(coords) - set(expected))
    assert not extra, f"archived records that were not expected: {extra[:10]}"
    for r in rows:
        key, value = expected[(r.partition, r.offset)]
        assert r.key == key
        assert value is not None
        assert encode_packet(r.packet) == value
    by_partition: dict[int, list[ArchiveFile]] = {}
    for f in files:
        by_partition.setdefault(f.partition, []).append(f)
    for partition, pfiles in by_partition.items():
        assert pfiles[0].start_offset == 0, f"partition {partition} starts at {pfiles[0]}"
        for before, after in itertools.pairwise(pfiles):
            assert after.start_offset == before.end_offset + 1, f"gap/overlap: {before} {after}"
        last = max(o for p, o in expected if p == partition)
        assert pfiles[-1].end_offset >= last
    return files


def group_of(name: str, topic: str) -> str:
    """The test's group ``name`` made unique to its topic: no two tests share a group on the
    session broker (a member another test left behind would otherwise join their rebalances)."""
    return f"{name}-{topic}"


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = fast_consumer(bootstrap, group_of(group, topic))
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=20)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in tps}


def run_to_end(settings: KafkaSettings, storage: ArchiveStorage, **kwargs: Any) -> Any:
    group = group_of(kwargs.pop("group", "archiver"), settings.topic)
    archiver = Archiver(
        settings, storage, flush_at_end=True, stop_at_end=True, group=group, **{**FAST, **kwargs}
    )
    done: list[Any] = []
    stop = threading.Event()
    thread = threading.Thread(target=lambda: done.append(archiver.run(stop)))
    thread.start()
    thread.join(120)
    if thread.is_alive():  # stop it: left running, it would stay in its group for later tests
        stop.set()
        thread.join(30)
        raise AssertionError("archiver did not reach the end within 120 s")
    assert done, "archiver failed"
    return done[0]


def covered(storage: ArchiveStorage, topic: str, last: dict[int, int]) -> bool:
    ends: dict[int, int] = {}
    for f in storage.list_files(topic):
        ends[f.partition] = max(ends.get(f.partition, -1), f.end_offset)
    return all(ends.get(p, -1) >= o for p, o in last.items())


def last_offsets(expected: Iterable[tuple[int, int]]) -> dict[int, int]:
    last: dict[int, int] = {}
    for p, o in expected:
        last[p] = max(last.get(p, -1), o)
    return last


# -- tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "two-encoder-processes"])
def test_every_packet_archived_exactly_once(
    settings: KafkaSettings, bootstrap: str, topic_name: str, tmp_path: Path, workers: int
) -> None:
    create_topic(bootstrap, topic_name, 3)
    expected = produce(bootstrap, topic_name, packet_records(1500))
    storage = ArchiveStorage(tmp_path.as_uri())
    stats = run_to_end(
        settings, storage, group="g1", roll=RollPolicy(max_records=200), workers=workers
    )
    files = assert_exactly_once(storage, topic_name, expected)
    assert stats.rows == 1500
    assert stats.files == len(files)
    assert stats.dead_letters == 0
    assert all(f.offsets <= 200 for f in files)
    # offsets committed = end of the last file + 1, per partition
    ends = {f.partition: f.end_offset + 1 for f in files}
    assert committed(bootstrap, "g1", topic_name, 3) == ends


def test_rerun_and_new_group_add_nothing(
    settings: KafkaSettings, bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    create_topic(bootstrap, topic_name, 2)
    expected = produce(bootstrap, topic_name, packet_records(600))
    storage = ArchiveStorage(tmp_path.as_uri())
    run_to_end(settings, storage, group="g1", roll=RollPolicy(max_records=100))
    before = {f.path: storage.read(f.path) for f in storage.list_files(topic_name)}
    again = run_to_end(settings, storage, group="g1", roll=RollPolicy(max_records=100))
    assert again.files == 0
    # A group with no commits starts from the beginning, and the archive fences it off.
    fresh = run_to_end(settings, storage, group="g-new", roll=RollPolicy(max_records=100))
    assert fresh.files == 0
    assert {f.path: storage.read(f.path) for f in storage.list_files(topic_name)} == before
    assert_exactly_once(storage, topic_name, expected)
    # ... and it committed the offsets it skipped, so its lag is zero
    assert committed(bootstrap, "g-new", topic_name, 2) == committed(bootstrap, "g1", topic_name, 2)


def test_replaying_offsets_rewrites_identical_files(
    settings: KafkaSettings, bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    create_topic(bootstrap, topic_name, 1)
    expected = produce(bootstrap, topic_name, packet_records(1000))
    storage = ArchiveStorage(tmp_path.as_uri())
    run_to_end(settings, storage, group="g1", roll=RollPolicy(max_records=150))
    files = storage.list_files(topic_name)
    original = {f.path: storage.read(f.path) for f in files}
    # Lose two files (one in the middle, the last one); a new group replays every offset.
    for lost in (files[2], files[-1]):
        storage.delete(lost.path)
    stats = run_to_end(settings, storage, group="g2", roll=RollPolicy(max_records=150))
    assert stats.files == 2
    assert {f.path: storage.read(f.path) for f in storage.list_files(topic_name)} == original
    # A separate archive of the same offsets is byte for byte the same, also when the files
    # are encoded in worker processes.
    other = ArchiveStorage((tmp_path / "other").as_uri())
    run_to_end(settings, other, group="g3", roll=RollPolicy(max_records=150), workers=1)
    assert {f.path: other.read(f.path) for f in other.list_files(topic_name)} == original
    assert_exactly_once(storage, topic_name, expected)


def test_files_roll_on_record_time_and_utc_midnight(
    settings: KafkaSettings, bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    create_topic(bootstrap, topic_name, 1)
    stamps = [
        "2026-11-27T22:00:00Z",
        "2026-11-27T22:30:00Z",
        "2026-11-27T23:10:00Z",  # > 1 h after the first: new file
        "2026-11-27T23:59:59.999Z",
        "2026-11-28T00:00:00Z",  # new UTC day: new file
        "2026-11-27T23:59:00Z",  # late record: stays in the current file
    ]
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i, ts in enumerate(stamps):
        p = make_packet(i)
        p = KafkaPayload(**{**{f: getattr(p, f) for f in p.__struct_fields__}, "timestamp": ts})
        producer.produce(topic_name, encode_packet(p), b"k", timestamp=p.timestamp_ms())
    assert producer.flush(30) == 0
    storage = ArchiveStorage(tmp_path.as_uri())
    run_to_end(settings, storage, roll=RollPolicy(max_record_span_s=3600))
    names = [(f.date, f.start_offset, f.end_offset) for f in storage.list_files(topic_name)]
    assert names == [("2026-11-27", 0, 1), ("2026-11-27", 2, 3), ("2026-11-28", 4, 5)]


def test_a_record_timestamped_after_year_9999_is_archived(
    settings: KafkaSettings, bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    # Kafka takes any int64 record time; Python dates end with 9999. The file of such a
    # record is dated 9999-12-31 and the record keeps its time, instead of the archiver
    # failing on it at every start. (Kafka 4 refuses record times more than an hour ahead
    # unless the topic allows them: this topic does.)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    future_ok = {"message.timestamp.after.max.ms": str(2**63 - 1)}
    admin.create_topics([NewTopic(topic_name, 1, 1, config=future_ok)])[topic_name].result(10)
    far = 253_402_300_800_000  # 10000-01-01T00:00:00Z
    records = packet_records(3)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i, (key, value) in enumerate(records):
        producer.produce(topic_name, value, key, timestamp=far if i == 1 else 1_795_780_800_000)
    assert producer.flush(30) == 0
    storage = ArchiveStorage(tmp_path.as_uri())
    run_to_end(settings, storage, roll=RollPolicy(max_records=10))
    expected = {(0, o): kv for o, kv in enumerate(records)}
    files = assert_exactly_once(storage, topic_name, expected)
    assert [(f.date, f.start_offset, f.end_offset) for f in files] == [
        ("2026-11-27", 0, 0),
        ("9999-12-31", 1, 2),  # the record after it is late: it stays in that file
    ]
    _, rows = read_archive(storage, topic_name)
    assert [r.kafka_timestamp_ms for r in rows] == [1_795_780_800_000, far, 1_795_780_800_000]


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "encoder-process"])
def test_poison_records_go_to_the_dead_letter_topic(
    settings: KafkaSettings, bootstrap: str, topic_name: str, tmp_path: Path, workers: int
) -> None:
    create_topic(bootstrap, topic_name, 2)
    good = packet_records(300)
    valid = json.loads(good[0][1] or b"")
    poison: list[tuple[bytes | None, bytes | None, str]] = [
        (b"p1", b"this is not json", "$"),
        (b"p2", b'{"hello": "world"}', "$.sourceId"),
        (
            b"p3",
            json.dumps({**valid, "data_chunk": "A" * (MAX_DATA_CHUNK_CHARS + 4)}).encode(),
            "$.data_chunk",
        ),
        (b"p4", json.dumps({**valid, "timestamp": "yesterday"}).encode(), "$.timestamp"),
        (b"p5", json.dumps({**valid, "data_chunk": "***"}).encode(), "$.data_chunk"),
        (
            b"p6",
            json.dumps({**valid, "metrics": {**valid["metrics"], "rfiLevel": "high"}}).encode(),
            "$.metrics.rfiLevel",
        ),
        (b"p7", None, "$"),
        (b"p8", b'{"sourceId": "bad utf-8 \xff"}', "$"),
    ]
    poison_sent = poison
    mixed: list[tuple[bytes | None, bytes | None]] = list(good)
    for n, (key, value, _) in enumerate(poison_sent):  # one poison record every ~40 packets
        mixed.insert(5 + n * 41, (key, value))
    delivered = produce(bootstrap, topic_name, mixed)
    storage = ArchiveStorage(tmp_path.as_uri())
    stats = run_to_end(settings, storage, roll=RollPolicy(max_records=64), workers=workers)
    poison_values = {v for _, v, _ in poison_sent}
    good_expected = {k: v for k, v in delivered.items() if v[1] not in poison_values}
    assert len(good_expected) == 300
    assert_exactly_once(storage, topic_name, good_expected)
    bad_expected = {k: v for k, v in delivered.items() if v[1] in poison_values}
    assert stats.dead_letters == len(bad_expected)

    dead = consume_all(bootstrap, dlq_topic_name(topic_name), len(bad_expected))
    fields = {key: field for key, _, field in poison_sent}
    seen = set()
    for msg in dead:
        headers = {k: (v or b"").decode() for k, v in msg.headers() or []}
        coord = (int(headers["source.partition"]), int(headers["source.offset"]))
        assert coord in bad_expected
        seen.add(coord)
        key, value = bad_expected[coord]
        assert (msg.key(), msg.value()) == (key, value)
        assert headers["source.topic"] == topic_name
        assert headers["error.field"] == fields[key or b""], headers
        assert headers["error"].startswith(headers["error.field"] + ": ")
        assert int(headers["source.timestamp"]) > 0
        assert headers["content-type"] == "application/json"  # original headers kept
    assert seen == set(bad_expected)


def test_a_dead_letter_too_large_for_its_topic_does_not_stop_the_archiver(
    settings: KafkaSettings, bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    # Records the source topic took, but whose dead letter (value + error headers) would be
    # over the producer's 1,000,000-byte limit: a 600 kB timestamp that the error message
    # quotes, and a 999,900-byte value that the error headers push over.
    create_topic(bootstrap, topic_name, 1)
    valid = json.loads(packet_records(1)[0][1] or b"")
    quoted = json.dumps({**valid, "timestamp": "x" * 600_000}).encode()
    huge = b"#" * 999_900
    good = packet_records(20)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 0, "message.max.bytes": 4_000_000}
    )
    for key, value in [*good[:10], (b"q1", quoted), (b"q2", huge), *good[10:]]:
        producer.produce(topic_name, value, key)
    assert producer.flush(60) == 0
    storage = ArchiveStorage(tmp_path.as_uri())
    stats = run_to_end(settings, storage, roll=RollPolicy(max_records=8))
    expected = {(0, o): kv for o, kv in enumerate(good[:10])}
    expected |= {(0, o + 12): kv for o, kv in enumerate(good[10:])}
    assert_exactly_once(storage, topic_name, expected)
    assert stats.dead_letters == 2

    dead = consume_all(bootstrap, dlq_topic_name(topic_name), 2)
    by_offset = {}
    for msg in dead:
        headers = {k: (v or b"").decode() for k, v in msg.headers() or []}
        by_offset[int(headers["source.offset"])] = (msg, headers)
    assert sorted(by_offset) == [10, 11]
    msg, headers = by_offset[10]
    assert (msg.key(), msg.value()) == (b"q1", quoted)  # the record itself, as it came
    assert headers["error.field"] == "$.timestamp"
    assert headers["error"].startswith("$.timestamp: not an ISO 8601 date-time: 'xxx")
    assert len(headers["error"]) < 2000
    msg, headers = by_offset[11]
    assert headers["error.field"] == "$"
    assert "(999902 bytes)" in headers["error.dropped"]  # key + value: what it left out
    assert (msg.key(), msg.value()) == (None, None)


# -- crash safety (the archiver as a separate process, killed with SIGKILL) ------------------


def _archiver_cmd(bootstrap: str, topic: str, storage: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cosmic_horizons.cli.main",
        "--log-level",
        "info",
        "archive",
        "run",
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--storage",
        storage.as_uri(),
        "--group",
        "crash-test",
        "--max-records",
        "100",
        "--session-timeout",
        "6s",
        *extra,
    ]


def _spawn(cmd: list[str], log: Path, crash: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ}
    env.pop(CRASH_HOOK_ENV, None)
    if crash:
        env[CRASH_HOOK_ENV] = crash
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT)


@pytest.mark.slow
# Six archiver processes, five of them restarting after a SIGKILL and waiting out the dead
# member's session: ~80 s here even with the cores saturated, but its own deadlines (which
# fail with a clear message) add up to more than the 180 s session default.
@pytest.mark.timeout(600)
def test_sigkill_at_any_point_loses_and_duplicates_nothing(
    bootstrap: str, topic_name: str, tmp_path: Path, output_dir: Path
) -> None:
    create_topic(bootstrap, topic_name, 2)
    records = packet_records(3000)
    for i in range(0, 3000, 250):  # a dead letter now and then
        records.insert(i, (b"bad", b"{not json"))
    expected_all = produce(bootstrap, topic_name, records)
    good = {k: v for k, v in expected_all.items() if v[1] != b"{not json"}
    archive = tmp_path / "archive"
    storage = ArchiveStorage(archive.as_uri())
    log = output_dir / "archiver.log"
    log.unlink(missing_ok=True)
    cmd = _archiver_cmd(bootstrap, topic_name, archive, "--flush-at-end", "--stop-at-end")

    # 1. killed right after a file is stored, before its offset is committed
    # 2. killed after the dead letters of a range were flushed, before its file is stored
    # 3. killed right after a commit
    for crash in ("write:3", "dlq:1", "commit:2", "write:1"):
        proc = _spawn(cmd, log, crash)
        assert proc.wait(120) == -signal.SIGKILL, f"{crash}: expected the process to kill itself"
    # 4. killed from outside in the middle of a batch
    proc = _spawn(cmd, log)
    files_before = len(storage.list_files(topic_name))
    wait_for(
        lambda: len(storage.list_files(topic_name)) >= files_before + 2 or proc.poll() is not None,
        "the archiver to store two more files",
        90,
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    # 5. a clean run to the end
    proc = _spawn(cmd, log)
    assert proc.wait(180) == 0, log.read_text()[-3000:]
    assert_exactly_once(storage, topic_name, good)
    # dead letters are at least once: a crash between their flush and the file can repeat them
    bad = {k for k, v in expected_all.items() if v[1] == b"{not json"}
    dead = consume_all_available(bootstrap, dlq_topic_name(topic_name))
    seen = {
        (int(h["source.partition"]), int(h["source.offset"]))
        for h in ({k: (v or b"").decode() for k, v in m.headers() or []} for m in dead)
    }
    assert seen == bad


def consume_all_available(bootstrap: str, topic: str, idle: float = 5.0) -> list[Message]:
    consumer = fast_consumer(bootstrap)
    consumer.subscribe([topic])
    got: list[Message] = []
    deadline = time.monotonic() + 60
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                if got and time.monotonic() - last > idle:
                    break
                continue
            assert not msg.error(), msg.error()
            got.append(msg)
            last = time.monotonic()
    finally:
        consumer.close()
    return got


# -- rebalancing -----------------------------------------------------------------------------


@pytest.mark.slow
def test_two_archivers_with_a_rebalance_in_the_middle(
    settings: KafkaSettings, bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    create_topic(bootstrap, topic_name, 4)
    storage = ArchiveStorage(tmp_path.as_uri())
    group = f"rebalance-{uuid.uuid4().hex[:6]}"
    expected: dict[tuple[int, int], tuple[bytes | None, bytes | None]] = {}

    def start(
        name: str, workers: int
    ) -> tuple[Archiver, threading.Event, threading.Thread, list[BaseException]]:
        archiver = Archiver(
            settings,
            storage,
            group=group,
            roll=RollPolicy(max_records=50),
            flush_at_end=True,
            workers=workers,
            **FAST,
        )
        stop = threading.Event()
        errors: list[BaseException] = []

        def body() -> None:
            try:
                archiver.run(stop)
            except BaseException as exc:  # surfaced by the asserts below
                errors.append(exc)

        thread = threading.Thread(target=body, name=name)
        thread.start()
        return archiver, stop, thread, errors

    # A encodes in-process, B in a worker process: B stores closed ranges when revoked
    a, stop_a, thread_a, errors_a = start("archiver-a", 0)
    expected.update(produce(bootstrap, topic_name, packet_records(800)))
    wait_for(
        lambda: covered(storage, topic_name, last_offsets(expected)), "A to archive batch 1", 60
    )

    b, stop_b, thread_b, errors_b = start("archiver-b", 1)
    # produce while B joins: the rebalance happens with records in flight
    for n in range(5):
        expected.update(produce(bootstrap, topic_name, packet_records(200, start=800 + n * 200)))
        time.sleep(0.5)
    wait_for(lambda: len(b.stats().partitions) > 0, "B to get partitions", 60)
    wait_for(lambda: covered(storage, topic_name, last_offsets(expected)), "batch 2 archived", 60)

    stop_a.set()  # A leaves: B takes every partition
    for n in range(4):
        expected.update(produce(bootstrap, topic_name, packet_records(200, start=1800 + n * 200)))
        time.sleep(0.5)
    thread_a.join(30)
    wait_for(lambda: len(b.stats().partitions) == 4, "B to own all four partitions", 60)
    wait_for(lambda: covered(storage, topic_name, last_offsets(expected)), "batch 3 archived", 90)
    stop_b.set()
    thread_b.join(30)
    assert not errors_a and not errors_b, (errors_a, errors_b)
    assert a.counters.rows > 0 and b.counters.rows > 0, "both archivers should have written"
    assert_exactly_once(storage, topic_name, expected)


def test_archiver_stats_served_by_the_monitoring_api(
    settings: KafkaSettings, bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    import httpx

    from cosmic_horizons.api import start_api

    create_topic(bootstrap, topic_name, 1)
    produce(bootstrap, topic_name, packet_records(120))
    archiver = Archiver(
        settings,
        ArchiveStorage(tmp_path.as_uri()),
        roll=RollPolicy(max_records=50),
        flush_at_end=True,
        **FAST,
    )
    stop = threading.Event()
    thread = threading.Thread(target=archiver.run, args=(stop,))
    with start_api(settings, port=0, extra_stats={"archiver": archiver.stats}) as api:
        thread.start()
        try:
            wait_for(lambda: archiver.counters.rows == 120, "120 rows archived", 60)
            body = httpx.get(f"{api.url}/api/messaging/stats", timeout=10).json()
        finally:
            stop.set()
            thread.join(30)
    served = body["components"]["archiver"]
    assert served["rows"] == 120
    assert served["files"] == 3
    assert served["topic"] == topic_name
    assert served["partitions"][0]["last_archived_offset"] == 119
