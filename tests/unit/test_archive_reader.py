"""Reading the archive back: times, footer listing, window and element filters, order."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cosmic_horizons.archiver.fileformat import (
    ArchivedRecord,
    encode_parquet,
    file_path,
    table_from_records,
)
from cosmic_horizons.archiver.reader import (
    ReadStats,
    TimeWindow,
    format_ms,
    iter_records,
    list_archive,
    merge_partitions,
    parse_time,
)
from cosmic_horizons.archiver.replay import check_destination, replay_headers, write_json_lines
from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.errors import ConfigError
from cosmic_horizons.packet import decode_packet
from tests.helpers import make_packet

TOPIC = "element.raw_data"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
NOW_MS = 1_795_780_800_000  # NOW in epoch ms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27", NOW_MS - 12 * 3_600_000),
        ("2026-11-27T12:00:00Z", NOW_MS),
        ("2026-11-27T12:00", NOW_MS),  # no zone: UTC
        ("2026-11-27T13:00:00+01:00", NOW_MS),
        ("2026-11-27T12:00:00.250Z", NOW_MS + 250),
        ("now", NOW_MS),
        ("now-2h", NOW_MS - 7_200_000),
        ("NOW - 90m", NOW_MS - 5_400_000),
        ("now+1d", NOW_MS + 86_400_000),
        ("-7d", NOW_MS - 7 * 86_400_000),
    ],
)
def test_parse_time(text: str, expected: int) -> None:
    assert parse_time(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "now-2x", "12:00", ""])
def test_parse_time_rejects_with_the_option_named(text: str) -> None:
    with pytest.raises(ConfigError, match="--from"):
        parse_time(text, now=NOW, what="--from")


def test_window_bounds_are_half_open_and_checked() -> None:
    w = TimeWindow(100, 200)
    assert (w.contains(99), w.contains(100), w.contains(199), w.contains(200)) == (
        False,
        True,
        True,
        False,
    )
    assert w.overlaps(50, 100) and w.overlaps(199, 300) and not w.overlaps(200, 300)
    assert not w.overlaps(0, 99)
    with pytest.raises(ConfigError, match="empty time window"):
        TimeWindow.parse("2026-11-27", "2026-11-26")
    assert format_ms(NOW_MS + 5) == "2026-11-27T12:00:00.005Z"


# -- files -------------------------------------------------------------------------------


def _record(partition: int, offset: int, ts: int, element: str = "") -> ArchivedRecord:
    packet = make_packet(offset, element=element or None)
    return ArchivedRecord(TOPIC, partition, offset, ts, packet.element_id.encode(), packet)


def _put(store: ArchiveStorage, records: list[ArchivedRecord], start: int, end: int) -> str:
    path = file_path(TOPIC, records[0].partition, start, end, records[0].kafka_timestamp_ms)
    store.put_atomic(path, encode_parquet(table_from_records(records)))
    return path


@pytest.fixture
def store(tmp_path: Path) -> ArchiveStorage:
    """Two partitions; partition 1's timestamps are not monotonic in offset order."""
    s = ArchiveStorage(tmp_path.as_uri())
    _put(s, [_record(0, o, NOW_MS + 10 * o, "element-a") for o in range(0, 5)], 0, 4)
    _put(s, [_record(0, o, NOW_MS + 10 * o, "element-a") for o in range(5, 10)], 5, 9)
    ts1 = [5, 3, 25, 26, 100]
    _put(s, [_record(1, o, NOW_MS + t, "element-b") for o, t in enumerate(ts1)], 0, 5)
    return s


def test_list_reads_rows_and_record_times_from_the_footer(store: ArchiveStorage) -> None:
    files = list_archive(store)
    assert [(f.partition, f.start_offset, f.end_offset, f.rows) for f in files] == [
        (0, 0, 4, 5),
        (0, 5, 9, 5),
        (1, 0, 5, 5),
    ]
    assert files[2].first_record_ms == NOW_MS + 3 and files[2].last_record_ms == NOW_MS + 100
    assert all(f.size_bytes > 0 and f.date == "2026-11-27" for f in files)


def test_list_with_a_window_keeps_overlapping_files(store: ArchiveStorage) -> None:
    files = list_archive(store, window=TimeWindow(NOW_MS + 50, NOW_MS + 90))
    assert [(f.partition, f.start_offset) for f in files] == [(0, 5), (1, 0)]
    assert list_archive(store, window=TimeWindow(NOW_MS + 1000, None)) == []


def test_records_filtered_by_window_and_element(store: ArchiveStorage) -> None:
    got = list(iter_records(store, TOPIC, TimeWindow(NOW_MS + 20, NOW_MS + 60)))
    assert [(r.partition, r.offset) for r in got] == [
        (0, 2),
        (1, 2),
        (1, 3),
        (0, 3),
        (0, 4),
        (0, 5),
    ]
    only_b = list(iter_records(store, TOPIC, TimeWindow(), elements=["element-b"]))
    assert [(r.partition, r.offset) for r in only_b] == [(1, o) for o in range(5)]


def test_order_is_offsets_per_partition_merged_by_time(store: ArchiveStorage) -> None:
    got = list(iter_records(store, TOPIC, TimeWindow()))
    assert len(got) == 15
    for p in (0, 1):
        offsets = [r.offset for r in got if r.partition == p]
        assert offsets == sorted(offsets)  # never reordered inside a partition
    # partition 1 offset 1 (t=3) waits for offset 0 (t=5), and 0's merge key places both
    # after partition 0 offset 0 (t=0).
    assert [(r.partition, r.offset) for r in got[:4]] == [(0, 0), (1, 0), (1, 1), (0, 1)]


def test_overlapping_files_give_each_offset_once(store: ArchiveStorage) -> None:
    _put(store, [_record(0, o, NOW_MS + 10 * o, "element-a") for o in range(3, 8)], 3, 7)
    stats = ReadStats()
    got = [
        r.offset for r in iter_records(store, TOPIC, TimeWindow(), stats=stats) if r.partition == 0
    ]
    assert got == list(range(10)) and stats.duplicates == 5


def test_a_late_record_in_a_file_dated_the_next_day_is_found(tmp_path: Path) -> None:
    # The archiver keeps a late record in the open file (a file never crosses a midnight
    # forward, but its first record's day names it): this file is dated 2026-11-28 and
    # holds a record of 2026-11-27T23:59:00Z, which a window ending at midnight must find.
    store = ArchiveStorage(tmp_path.as_uri())
    midnight = NOW_MS + 12 * 3_600_000
    _put(store, [_record(0, 0, midnight), _record(0, 1, midnight - 60_000)], 0, 1)
    assert store.list_files(TOPIC)[0].date == "2026-11-28"
    window = TimeWindow.parse("2026-11-27T23:00:00Z", "2026-11-28T00:00:00Z")
    assert [(f.start_offset, f.end_offset) for f in list_archive(store, window=window)] == [(0, 1)]
    got = [(r.offset, r.kafka_timestamp_ms) for r in iter_records(store, TOPIC, window)]
    assert got == [(1, midnight - 60_000)]


def test_a_record_timed_after_year_9999_can_be_listed_and_read(tmp_path: Path) -> None:
    # Kafka takes any int64 record time, and the archiver stores it as it came.
    store = ArchiveStorage(tmp_path.as_uri())
    far = 253_402_300_800_000 + 5  # 10000-01-01T00:00:00.005Z
    _put(store, [_record(0, 0, NOW_MS), _record(0, 1, far)], 0, 1)
    (info,) = list_archive(store)
    assert (info.first_record_ms, info.last_record_ms) == (NOW_MS, far)
    assert [f.rows for f in list_archive(store, window=TimeWindow(NOW_MS + 1, None))] == [2]
    got = [r.kafka_timestamp_ms for r in iter_records(store, TOPIC, TimeWindow(NOW_MS + 1, None))]
    assert got == [far]
    assert format_ms(far) == "253402300800005 ms after 1970"


def test_merge_partitions_ties_break_by_partition_then_offset() -> None:
    a = [_record(0, 0, 10), _record(0, 1, 10)]
    b = [_record(1, 0, 10), _record(1, 1, 5)]
    got = [(r.partition, r.offset) for r in merge_partitions({1: b, 0: a})]
    assert got == [(0, 0), (0, 1), (1, 0), (1, 1)]


# -- replay helpers ----------------------------------------------------------------------


def test_loop_guard() -> None:
    with pytest.raises(ConfigError, match="archive the replayed packets again"):
        check_destination(TOPIC, TOPIC, into_source=False)
    check_destination(TOPIC, TOPIC, into_source=True)
    check_destination(TOPIC, "replayed", into_source=False)


def test_replay_headers_name_the_source() -> None:
    headers = dict(replay_headers(_record(2, 41, NOW_MS)))
    assert headers["replay.source"] == b"element.raw_data/2/41"
    assert headers["content-type"] == b"application/json"


def test_json_lines_are_the_packets(store: ArchiveStorage) -> None:
    lines: list[bytes] = []
    report = write_json_lines(iter_records(store, TOPIC, TimeWindow()), lines.append)
    assert report.read == report.delivered == 15 and report.complete
    assert all(line.endswith(b"\n") and b'"sourceId"' in line for line in lines)
    assert decode_packet(lines[0]) == make_packet(0, element="element-a")


def test_rate_paces_the_replay_and_stop_ends_it(store: ArchiveStorage) -> None:
    records = list(iter_records(store, TOPIC, TimeWindow()))[:6]
    started = time.monotonic()
    report = write_json_lines(records, lambda _: None, rate=20.0)
    assert report.read == 6
    assert time.monotonic() - started >= 5 / 20.0 - 0.01  # the 6th is due 0.25 s in

    stop = threading.Event()
    stop.set()
    stopped = write_json_lines(records, lambda _: None, stop=stop)
    assert stopped.interrupted and stopped.read == 0 and not stopped.complete


def test_a_damaged_file_stops_the_read_with_what_came_before(store: ArchiveStorage) -> None:
    # Footer intact, column data damaged: listing works, reading the rows fails.
    records = [_record(2, o, NOW_MS + 1000 + o, "element-c") for o in range(50)]
    _put(store, records[:25], 0, 24)
    path = _put(store, records[25:], 25, 49)
    data = bytearray(store.read(path))
    for i in range(4, 40):  # the first column chunk, just after the leading magic
        data[i] ^= 0x5A
    store.put_atomic(path, bytes(data))
    lines: list[bytes] = []
    report = write_json_lines(iter_records(store, TOPIC, TimeWindow()), lines.append)
    assert report.error is not None and path in report.error
    assert not report.complete
    # partitions 0 and 1 (15 records, earlier) and the first file of partition 2 came out
    assert len(lines) == report.read == 15 + 25
