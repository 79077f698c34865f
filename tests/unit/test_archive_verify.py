"""Archive verification: gaps, overlaps and per-file row checks."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cosmic_horizons.archiver.fileformat import (
    ArchivedRecord,
    ArchiveFile,
    encode_parquet,
    file_path,
    parse_path,
    table_from_records,
)
from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.archiver.verify import check_file_rows, check_ranges, verify_archive
from tests.helpers import make_packet

TOPIC = "element.raw_data"
TS = 1_795_780_800_000  # 2026-11-27T12:00:00Z


def af(start: int, end: int, partition: int = 0, topic: str = TOPIC) -> ArchiveFile:
    parsed = parse_path(file_path(topic, partition, start, end, TS))
    assert parsed is not None
    return parsed


def test_contiguous_files_have_no_gaps_or_overlaps() -> None:
    files = [af(0, 99), af(100, 199), af(200, 200), af(201, 500)]
    [report] = check_ranges(files)
    assert report.ok
    assert (report.files, report.first_offset, report.last_offset) == (4, 0, 500)


def test_gap_names_missing_offsets_and_neighbour_files() -> None:
    a, b, c = af(0, 99), af(150, 199), af(200, 299)
    [report] = check_ranges([c, a, b])  # order given does not matter
    assert not report.overlaps
    [gap] = report.gaps
    assert (gap.first, gap.last, gap.count) == (100, 149, 50)
    assert (gap.after, gap.before) == (a.path, b.path)


def test_overlap_names_shared_offsets_and_both_files() -> None:
    a, b = af(0, 99), af(90, 199)
    [report] = check_ranges([a, b])
    assert not report.gaps
    [overlap] = report.overlaps
    assert (overlap.first, overlap.last, overlap.count) == (90, 99, 10)
    assert {overlap.file_a, overlap.file_b} == {a.path, b.path}


def test_file_inside_another_is_an_overlap_and_hides_no_gap() -> None:
    # 0-299 holds 100-149 entirely; the next file starts right after 299: no gap.
    outer, inner, nxt = af(0, 299), af(100, 149), af(300, 399)
    [report] = check_ranges([outer, inner, nxt])
    assert not report.gaps
    [overlap] = report.overlaps
    assert (overlap.first, overlap.last) == (100, 149)
    assert {overlap.file_a, overlap.file_b} == {outer.path, inner.path}


def test_gap_after_a_long_file_counts_from_its_end() -> None:
    # The long first file reaches past the second; the gap starts after the long one.
    long, short, late = af(0, 500), af(10, 20), af(600, 700)
    [report] = check_ranges([long, short, late])
    [gap] = report.gaps
    assert (gap.first, gap.last, gap.after, gap.before) == (501, 599, long.path, late.path)


def test_partitions_and_topics_are_checked_separately() -> None:
    files = [af(0, 9, 0), af(20, 29, 0), af(0, 9, 1), af(10, 19, 1), af(5, 9, 0, topic="other")]
    reports = {(r.topic, r.partition): r for r in check_ranges(files)}
    assert set(reports) == {(TOPIC, 0), (TOPIC, 1), ("other", 0)}
    assert [(g.first, g.last) for g in reports[(TOPIC, 0)].gaps] == [(10, 19)]
    assert reports[(TOPIC, 1)].ok and reports[("other", 0)].ok


def test_first_and_last_offsets_bound_the_check() -> None:
    # Offsets before the first file or after the last are not gaps (retention, not yet archived).
    [report] = check_ranges([af(1000, 1999), af(2000, 2999)])
    assert report.ok and (report.first_offset, report.last_offset) == (1000, 2999)


def test_file_rows_good() -> None:
    # Dead-lettered offsets leave holes inside a file's range: that is fine.
    assert check_file_rows(af(100, 199), [100, 101, 150, 199]) == []
    assert check_file_rows(af(100, 199), []) == []


def test_file_rows_outside_range() -> None:
    [problem] = check_file_rows(af(100, 199), [99, 100, 150, 200, 201])
    assert problem.kind == "offset-outside-range"
    assert "3 row(s)" in problem.detail and "99, 200, 201" in problem.detail
    assert "100-199" in problem.detail


def test_file_rows_unsorted_and_duplicates() -> None:
    problems = {p.kind: p for p in check_file_rows(af(0, 99), [1, 2, 5, 3, 5, 5, 7])}
    assert set(problems) == {"unsorted", "duplicate-offset"}
    assert "offset 3 (row 3) follows offset 5 (row 2)" in problems["unsorted"].detail
    assert "1 offset(s)" in problems["duplicate-offset"].detail
    assert problems["duplicate-offset"].detail.endswith(": 5")


def test_file_rows_of_wrong_topic_or_partition() -> None:
    kinds = {
        p.kind for p in check_file_rows(af(0, 9, 2), [0, 1], topics=[TOPIC, "x"], partitions=[2, 3])
    }
    assert kinds == {"wrong-topic", "wrong-partition"}


def test_long_lists_are_shortened() -> None:
    [problem] = check_file_rows(af(0, 9), list(range(100, 120)))
    assert "100, 101, 102, 103, 104 and 15 more" in problem.detail


# -- over real Parquet files -------------------------------------------------------------


def _write(
    store: ArchiveStorage,
    start: int,
    end: int,
    offsets: list[int],
    *,
    partition: int = 0,
    row_partition: int | None = None,
) -> ArchiveFile:
    records = [
        ArchivedRecord(
            topic=TOPIC,
            partition=partition if row_partition is None else row_partition,
            offset=o,
            kafka_timestamp_ms=TS + o,
            key=b"k",
            packet=make_packet(o),
        )
        for o in offsets
    ]
    table = table_from_records(records)
    if not records:
        table = table.slice(0, 0)
    path = file_path(TOPIC, partition, start, end, TS)
    store.put_atomic(path, encode_parquet(table))
    parsed = parse_path(path)
    assert parsed is not None
    return parsed


def test_verify_archive_clean(tmp_path: Path) -> None:
    store = ArchiveStorage(tmp_path.as_uri())
    _write(store, 0, 9, list(range(10)))
    _write(store, 10, 19, [10, 12, 19])  # 11, 13-18 went to the dead-letter topic
    _write(store, 20, 24, [])  # every record of the range dead-lettered
    _write(store, 0, 4, [0, 1, 2, 3, 4], partition=1)
    report = verify_archive(store)
    assert report.ok, report
    assert (report.files, report.rows) == (4, 18)


def test_verify_archive_reports_every_kind_of_problem(tmp_path: Path) -> None:
    store = ArchiveStorage(tmp_path.as_uri())
    _write(store, 0, 9, list(range(10)))
    gap_next = _write(store, 20, 29, [20, 21])  # 10-19 missing
    _write(store, 25, 39, [30])  # 25-29 in two files
    bad = _write(store, 40, 49, [41, 40, 55, 41])  # unsorted, outside, repeated
    wrong = _write(store, 50, 59, [50], row_partition=7)
    junk = file_path(TOPIC, 0, 60, 69, TS)
    store.put_atomic(junk, b"this is not parquet")
    report = verify_archive(store, topic=TOPIC)
    assert not report.ok
    assert [(g.first, g.last, g.before) for g in report.gaps] == [(10, 19, gap_next.path)]
    assert [(o.first, o.last) for o in report.overlaps] == [(25, 29)]
    by_file: dict[str, set[str]] = {}
    for p in report.file_problems:
        by_file.setdefault(p.path, set()).add(p.kind)
    assert by_file == {
        bad.path: {"unsorted", "offset-outside-range", "duplicate-offset"},
        wrong.path: {"wrong-partition"},
        junk: {"unreadable"},
    }


def test_verify_empty_archive_is_ok(tmp_path: Path) -> None:
    report = verify_archive(ArchiveStorage((tmp_path / "none").as_uri()))
    assert report.ok and report.files == 0 and report.partitions == []


def test_unreadable_parquet_is_reported_not_raised(tmp_path: Path) -> None:
    store = ArchiveStorage(tmp_path.as_uri())
    path = file_path(TOPIC, 0, 0, 9, TS)
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"x": [1]}), sink)
    store.put_atomic(path, sink.getvalue().to_pybytes())
    [problem] = verify_archive(store).file_problems
    assert problem.path == path and problem.kind in {"not-an-archive-file", "unreadable"}
