"""Archiver edge cases against the embedded broker: offset gaps, lost offsets, a recreated topic.

The embedded broker enforces no retention and cannot DeleteRecords, so its log start never
moves. The offset gaps here are real (transaction markers, which read_committed consumers
skip); the lost-offset tests substitute only the log start the broker would report after
retention deleted offsets (``Archiver._log_start``), everything else is the real path.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicCollection
from confluent_kafka.admin import AdminClient
from typer.testing import CliRunner

from cosmic_horizons.api import start_api
from cosmic_horizons.archiver.archiver import Archiver, ArchiverStats, RollPolicy
from cosmic_horizons.archiver.identity import archived_topic_id
from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.archiver.trim import partition_offsets
from cosmic_horizons.archiver.verify import check_ranges
from cosmic_horizons.cli.archive import archiver_line
from cosmic_horizons.cli.main import app
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.errors import ArchiveError
from tests.broker.test_archiver import (
    FAST,
    committed,
    group_of,
    packet_records,
    produce,
    read_archive,
    run_to_end,
)
from tests.helpers import create_topic, wait_for

TXN = 20
"""Records per transaction: offsets 0-19, marker 20, 21-40, marker 41, 42-61, marker 62."""


def produce_transactions(bootstrap: str, topic: str, transactions: int) -> list[int]:
    """``transactions`` committed transactions of TXN packets on partition 0; their offsets."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "transactional.id": f"tx-{topic}", "linger.ms": 0}
    )
    producer.init_transactions(30)
    offsets: list[int] = []

    def delivered(err: Any, msg: Any) -> None:
        assert err is None, err
        offsets.append(msg.offset())

    records = packet_records(TXN * transactions)
    for t in range(transactions):
        producer.begin_transaction()
        for key, value in records[t * TXN : (t + 1) * TXN]:
            producer.produce(topic, value, key, partition=0, on_delivery=delivered)
        producer.commit_transaction(30)
    return sorted(offsets)


def live_id(bootstrap: str, topic: str) -> str | None:
    """The topic's id, or None while the broker does not know the topic (yet)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        return str(admin.describe_topics(TopicCollection([topic]))[topic].result(15).topic_id)
    except KafkaException as exc:
        # Kafka: a topic created a moment ago may be unknown to the broker still.
        if exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return None
        raise


class RetentionArchiver(Archiver):
    """An archiver that sees ``log_start`` as the partition's log start, as a broker reports
    it once retention deleted the offsets below it (the embedded broker cannot)."""

    def __init__(self, *args: Any, log_start: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reported_log_start = log_start
        self.asked = 0

    def _log_start(self, consumer: Consumer, partition: int) -> int | None:
        self.asked += 1
        real = super()._log_start(consumer, partition)
        assert real == 0  # the broker's own answer: nothing was ever deleted
        return self.reported_log_start


def run_archiver(archiver: Archiver) -> ArchiverStats | BaseException:
    """Run until the end (or a failure); the stats, or what it raised."""
    out: list[ArchiverStats | BaseException] = []
    stop = threading.Event()

    def target() -> None:
        try:
            out.append(archiver.run(stop))
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(120)
    if thread.is_alive():
        stop.set()
        thread.join(30)
        raise AssertionError("archiver did not stop within 120 s")
    return out[0]


# -- offset gaps -------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 2000], ids=["between-batches", "inside-a-batch"])
def test_transaction_marker_gaps_are_not_loss(
    settings: KafkaSettings, bootstrap: str, topic_name: str, tmp_path: Path, batch_size: int
) -> None:
    create_topic(bootstrap, topic_name, 1)
    offsets = produce_transactions(bootstrap, topic_name, 3)
    assert offsets[TXN] == TXN + 1, f"expected a marker at offset {TXN}: {offsets}"
    storage = ArchiveStorage(tmp_path.as_uri())
    stats = run_to_end(settings, storage, batch_size=batch_size)
    assert stats.lost_offsets == 0
    assert [p.lost_offsets for p in stats.partitions] == [0]
    assert stats.rows == 3 * TXN
    files, rows = read_archive(storage, topic_name)
    assert sorted(r.offset for r in rows) == offsets
    # the markers stay inside the files' ranges: one contiguous range from 0
    assert [(f.start_offset, f.end_offset) for f in files] == [(0, offsets[-1])]
    [report] = check_ranges(files)
    assert report.gaps == []
    # and the files carry the live topic's id
    assert archived_topic_id(storage, files[0]) == live_id(bootstrap, topic_name)


@pytest.mark.parametrize("batch_size", [1, 2000], ids=["between-batches", "inside-a-batch"])
def test_offsets_deleted_before_they_were_read_are_reported_not_covered(
    settings: KafkaSettings,
    bootstrap: str,
    topic_name: str,
    tmp_path: Path,
    batch_size: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    create_topic(bootstrap, topic_name, 1)
    offsets = produce_transactions(bootstrap, topic_name, 3)
    # After the first transaction's records (0-19) the consumer jumps to 21 (a real jump
    # over the marker at 20); the broker is made to report 21 as the log start, as one
    # would after retention deleted offset 20 before the archiver read it.
    storage = ArchiveStorage(tmp_path.as_uri())
    archiver = RetentionArchiver(
        settings,
        storage,
        log_start=TXN + 1,
        group=group_of("lost", topic_name),
        flush_at_end=True,
        stop_at_end=True,
        batch_size=batch_size,
        roll=RollPolicy(max_records=1000),
        **FAST,
    )
    with caplog.at_level(logging.WARNING, logger="cosmic_horizons.archiver.archiver"):
        stats = run_archiver(archiver)
    assert isinstance(stats, ArchiverStats), stats
    assert stats.rows == 3 * TXN
    files, rows = read_archive(storage, topic_name)
    assert sorted(r.offset for r in rows) == offsets
    # the open range closed at the last offset read: no file names the lost offset
    assert [(f.start_offset, f.end_offset) for f in files] == [
        (0, TXN - 1),
        (TXN + 1, offsets[-1]),
    ]
    [report] = check_ranges(files)
    assert [(g.first, g.last) for g in report.gaps] == [(TXN, TXN)]
    assert stats.lost_offsets == 1
    assert [p.lost_offsets for p in stats.partitions] == [1]
    assert archiver.asked >= 1
    warning = [
        r.getMessage()
        for r in caplog.records
        if "deleted by the topic's retention" in r.getMessage()
    ]
    # one warning: the later marker gaps (41, 62) lie above the log start, not loss
    assert len(warning) == 1, caplog.text
    assert f"{topic_name} partition 0: offsets {TXN}-{TXN} (1 not archived)" in warning[0]
    assert committed(bootstrap, "lost", topic_name, 1) == {0: offsets[-1] + 1}
    # the monitoring API shows the count, as JSON and as a Prometheus gauge
    with start_api(settings, port=0, extra_stats={"archiver": archiver.stats}) as api:
        body = httpx.get(f"{api.url}/api/messaging/stats", timeout=10).json()
        metrics = httpx.get(f"{api.url}/metrics", timeout=10).text
    assert body["components"]["archiver"]["lost_offsets"] == 1
    assert "horizons_archiver_lost_offsets 1.0" in metrics
    assert "lost to retention 1 " in archiver_line(stats).plain


# -- a deleted and recreated topic -------------------------------------------------------


def recreate(bootstrap: str, topic: str, partitions: int, old_id: str) -> str:
    """Delete ``topic``, create it again; the new topic id."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.delete_topics([topic])[topic].result(15)
    wait_for(lambda: topic not in admin.list_topics(timeout=10).topics, f"{topic} deleted")
    create_topic(bootstrap, topic, partitions)
    new_id = wait_for(
        lambda: (i := live_id(bootstrap, topic)) != old_id and i, f"{topic} created again"
    )
    return str(new_id)


def test_recreated_topic_stops_the_archiver_and_trim(
    settings: KafkaSettings, bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    create_topic(bootstrap, topic_name, 2)
    produce(bootstrap, topic_name, packet_records(300))
    storage = ArchiveStorage(tmp_path.as_uri())
    first = run_to_end(settings, storage, group="g", roll=RollPolicy(max_records=50))
    assert first.rows == 300
    old_id = live_id(bootstrap, topic_name)
    assert {archived_topic_id(storage, f) for f in storage.list_files(topic_name)} == {old_id}
    archive = {f.path: storage.read(f.path) for f in storage.list_files(topic_name)}

    new_id = recreate(bootstrap, topic_name, 2, old_id)
    produce(bootstrap, topic_name, packet_records(40))
    commits_before = committed(bootstrap, "g", topic_name, 2)

    for group in ("g", "g-fresh"):  # the same group, and one with no commits
        archiver = Archiver(
            settings,
            storage,
            group=group_of(group, topic_name),
            flush_at_end=True,
            stop_at_end=True,
            **FAST,
        )
        outcome = run_archiver(archiver)
        assert isinstance(outcome, ArchiveError), outcome
        text = str(outcome)
        for part in (topic_name, old_id, new_id, storage.url, "--storage", "deleted and created"):
            assert part in text, (part, text)
        assert archiver.stats().rows == 0
    assert {f.path: storage.read(f.path) for f in storage.list_files(topic_name)} == archive
    assert committed(bootstrap, "g", topic_name, 2) == commits_before
    assert all(o < 0 for o in committed(bootstrap, "g-fresh", topic_name, 2).values())

    before = partition_offsets(settings, topic_name)
    runner = CliRunner()
    trim = ["topics", "trim", topic_name, "--archived", "--storage", storage.url, "-b", bootstrap]
    for extra in (["--dry-run", "--json"], []):
        result = runner.invoke(app, [*trim, *extra])
        assert result.exit_code == 5, result.output
        assert "another incarnation" in result.output and "nothing was trimmed" in result.output
        assert old_id in result.output and new_id in result.output
        with pytest.raises(json.JSONDecodeError):
            json.loads(result.stdout or "x")
    assert partition_offsets(settings, topic_name) == before

    # Moved away, the old archive no longer stands in the way.
    fresh = ArchiveStorage((tmp_path / "new").as_uri())
    stats = run_to_end(settings, fresh, group="g2", workers=1)  # encoded in a worker
    assert stats.rows == 40
    assert {archived_topic_id(fresh, f) for f in fresh.list_files(topic_name)} == {new_id}


def test_an_assignment_delivered_while_the_consumer_closes_is_not_taken(
    settings: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    """consumer.close() can still hand over a rebalance's assignment; its OffsetFetch would
    fail with _DESTROY and end a clean SIGTERM with exit 3 (seen in the rebalance test).
    While leaving, the archiver takes nothing: no offsets fetched, nothing assigned."""
    from confluent_kafka import TopicPartition

    from tests.helpers import create_topic

    create_topic(settings.bootstrap_servers or "", topic_name, 1)
    archiver = Archiver(
        settings, ArchiveStorage(tmp_path.as_uri()), group=group_of("leaving", topic_name), **FAST
    )
    consumer = Consumer(archiver._consumer_conf)
    try:
        archiver._leaving = True
        archiver._on_assign(consumer, [TopicPartition(topic_name, 0)])
        assert archiver._parts == {}
        assert consumer.assignment() == []
        archiver._leaving = False  # the same call when not leaving takes the partition
        archiver._on_assign(consumer, [TopicPartition(topic_name, 0)])
        assert list(archiver._parts) == [0]
        assert [tp.partition for tp in consumer.assignment()] == [0]
    finally:
        consumer.close()
