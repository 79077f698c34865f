"""The topic id in archive files, and refusing to mix two incarnations of one topic."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cosmic_horizons.archiver.fileformat import (
    TOPIC_ID_KEY,
    ArchivedRecord,
    ArchiveFile,
    encode_parquet,
    file_path,
    parse_path,
    table_from_records,
)
from cosmic_horizons.archiver.identity import (
    archived_topic_id,
    check_incarnation,
    incarnation_problem,
    newest_files,
)
from cosmic_horizons.archiver.reader import describe_file
from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.archiver.trim import footer_check, plan_trim
from cosmic_horizons.errors import ArchiveIntegrityError
from tests.helpers import make_packet

TOPIC = "element.raw_data"
TS = 1_795_780_800_000
OLD = "AaIds/6qeQG4Krqz0KdYNA"
NEW = "AaIdtAKcetOzPxwtaxvx3w"


def store_file(
    store: ArchiveStorage, start: int, end: int, topic_id: str | None, partition: int = 0
) -> ArchiveFile:
    path = file_path(TOPIC, partition, start, end, TS)
    records = [
        ArchivedRecord(TOPIC, partition, o, TS + o, None, make_packet(o))
        for o in range(start, end + 1)
    ]
    store.put_atomic(path, encode_parquet(table_from_records(records), topic_id=topic_id))
    parsed = parse_path(path)
    assert parsed is not None
    return parsed


def test_topic_id_goes_into_the_footer_and_keeps_content_deterministic() -> None:
    table = table_from_records(
        [ArchivedRecord(TOPIC, 0, o, TS, None, make_packet(o)) for o in range(5)]
    )
    with_id = encode_parquet(table, topic_id=NEW)
    assert with_id == encode_parquet(table, topic_id=NEW)
    assert with_id != encode_parquet(table, topic_id=OLD)
    meta = pq.ParquetFile(pa.BufferReader(with_id)).metadata.metadata
    assert meta[TOPIC_ID_KEY.encode()] == NEW.encode()
    assert meta[b"cosmic_horizons.archive_format"] == b"1"
    without = pq.ParquetFile(pa.BufferReader(encode_parquet(table))).metadata.metadata
    assert TOPIC_ID_KEY.encode() not in without


def test_newest_file_per_partition() -> None:
    files = [
        parse_path(file_path(TOPIC, p, s, e, TS))
        for p, s, e in [(0, 0, 9), (0, 10, 19), (1, 0, 4), (0, 5, 12), (1, 5, 5)]
    ]
    newest = newest_files(f for f in files if f is not None)
    assert {p: (f.start_offset, f.end_offset) for p, f in newest.items()} == {
        0: (10, 19),
        1: (5, 5),
    }


def test_problem_names_topic_both_ids_the_storage_and_what_to_do() -> None:
    f = parse_path(file_path(TOPIC, 2, 0, 9, TS))
    assert f is not None
    text = incarnation_problem(TOPIC, NEW, OLD, f, "file:///data/archive")
    assert text is not None
    for part in (TOPIC, "partition 2", OLD, NEW, "file:///data/archive", f.path, "--storage"):
        assert part in text
    assert "deleted and created again" in text
    assert incarnation_problem(TOPIC, NEW, NEW, f, "u") is None
    assert incarnation_problem(TOPIC, None, OLD, f, "u") is None
    assert incarnation_problem(TOPIC, NEW, None, f, "u") is None


def test_check_reads_the_newest_file_of_each_assigned_partition(tmp_path: Path) -> None:
    store = ArchiveStorage(tmp_path.as_uri())
    files = [
        store_file(store, 0, 9, OLD),
        store_file(store, 10, 19, NEW),  # partition 0's newest: the live one
        store_file(store, 0, 4, OLD, partition=1),
    ]
    assert archived_topic_id(store, files[0]) == OLD
    check_incarnation(store, TOPIC, NEW, files, [0])  # partition 0 only: fine
    with pytest.raises(ArchiveIntegrityError) as info:
        check_incarnation(store, TOPIC, NEW, files, [0, 1])
    assert not info.value.retriable  # another incarnation: retrying cannot help
    assert OLD in str(info.value) and NEW in str(info.value) and "partition 1" in str(info.value)
    with pytest.raises(ArchiveIntegrityError):
        check_incarnation(store, TOPIC, NEW, files)  # all partitions
    check_incarnation(store, TOPIC, OLD, files, [1])
    check_incarnation(store, TOPIC, NEW, files, [7])  # nothing archived for it


def test_files_without_id_or_a_broker_without_ids_skip_the_check(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = ArchiveStorage(tmp_path.as_uri())
    old_format = store_file(store, 0, 9, None)
    assert archived_topic_id(store, old_format) is None
    with caplog.at_level(logging.DEBUG, logger="cosmic_horizons.archiver.identity"):
        check_incarnation(store, TOPIC, NEW, [old_format])
        check_incarnation(store, TOPIC, None, [store_file(store, 10, 19, OLD)])
    assert "has no topic id" in caplog.text
    assert "no live topic id" in caplog.text


def test_unreadable_newest_file_is_an_archive_error(tmp_path: Path) -> None:
    store = ArchiveStorage(tmp_path.as_uri())
    path = file_path(TOPIC, 0, 0, 9, TS)
    store.put_atomic(path, b"not parquet")
    f = parse_path(path)
    assert f is not None
    with pytest.raises(ArchiveIntegrityError, match="not a readable Parquet file"):
        check_incarnation(store, TOPIC, NEW, [f])


def test_trim_plan_stops_before_a_file_of_another_incarnation(tmp_path: Path) -> None:
    store = ArchiveStorage(tmp_path.as_uri())
    files = [store_file(store, 0, 9, NEW), store_file(store, 10, 19, OLD)]
    files.append(store_file(store, 20, 29, NEW))
    [p] = plan_trim(TOPIC, files, {0: 0}, {0: 30}, check=footer_check(store, NEW)).partitions
    assert p.new_log_start == 10
    assert "another incarnation" in p.reason and OLD in p.reason and NEW in p.reason
    # files without an id, or no live id: only the other checks apply
    [p] = plan_trim(TOPIC, files, {0: 0}, {0: 30}, check=footer_check(store)).partitions
    assert p.new_log_start == 30
    assert describe_file(store, files[1]).topic_id == OLD
