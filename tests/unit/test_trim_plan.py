"""The trim plan: the log start moves only over offsets the archive holds contiguously."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from cosmic_horizons.archiver.fileformat import (
    ArchivedRecord,
    ArchiveFile,
    encode_parquet,
    file_path,
    parse_path,
    table_from_records,
)
from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.archiver.trim import footer_check, plan_trim
from tests.helpers import make_packet

TOPIC = "element.raw_data"
TS = 1_795_780_800_000


def af(start: int, end: int, partition: int = 0, topic: str = TOPIC) -> ArchiveFile:
    parsed = parse_path(file_path(topic, partition, start, end, TS))
    assert parsed is not None
    return parsed


def one(files: list[ArchiveFile], log_start: int, high: int) -> tuple[int, str]:
    [p] = plan_trim(TOPIC, files, {0: log_start}, {0: high}).partitions
    return p.new_log_start, p.reason


def test_contiguous_archive_moves_to_its_end() -> None:
    new, reason = one([af(0, 99), af(100, 199), af(200, 299)], 0, 1000)
    assert new == 300 and "ends at offset 299" in reason


def test_never_past_a_gap() -> None:
    new, reason = one([af(0, 99), af(150, 299)], 0, 1000)
    assert new == 100
    assert "100-149" in reason


def test_never_past_the_high_watermark() -> None:
    # The archive may name offsets the broker no longer reports (short watermark): cap.
    new, reason = one([af(0, 499)], 0, 300)
    assert new == 300 and "high watermark 300" in reason


def test_log_start_not_archived_means_no_move() -> None:
    new, reason = one([af(100, 199)], 50, 1000)
    assert new == 50 and "50-99" in reason


def test_starts_from_the_current_log_start_inside_a_file() -> None:
    # Already trimmed to 150 (inside the first file): continue from there.
    new, _ = one([af(0, 199), af(200, 299)], 150, 1000)
    assert new == 300


def test_files_before_the_log_start_are_ignored() -> None:
    new, reason = one([af(0, 99)], 100, 1000)
    assert new == 100 and "before the log start" in reason


def test_overlaps_do_not_stop_the_plan() -> None:
    new, _ = one([af(0, 120), af(100, 199), af(200, 249)], 0, 1000)
    assert new == 250


def test_empty_partition_and_unarchived_partition() -> None:
    plan = plan_trim(TOPIC, [af(0, 9, 1)], {0: 5, 1: 0, 2: 0}, {0: 5, 1: 100, 2: 100})
    got = {p.partition: (p.new_log_start, p.changes) for p in plan.partitions}
    assert got == {0: (5, False), 1: (10, True), 2: (0, False)}
    assert plan.moves == {1: 10} and plan.deletes == 10


def test_other_topics_files_are_ignored() -> None:
    plan = plan_trim(TOPIC, [af(0, 99, topic="other")], {0: 0}, {0: 100})
    assert plan.moves == {}


@pytest.mark.parametrize("seed", range(30))
def test_random_archives_never_trim_an_unarchived_offset(seed: int) -> None:
    rng = random.Random(seed)
    # Random files over 0..299 with random holes and overlaps.
    files = []
    offset = 0
    while offset < 300:
        length = rng.randint(1, 40)
        if rng.random() < 0.8:
            start = max(0, offset - (rng.randint(0, 5) if rng.random() < 0.2 else 0))
            files.append(af(start, offset + length - 1))
        offset += length
    held = set(
        itertools.chain.from_iterable(range(f.start_offset, f.end_offset + 1) for f in files)
    )
    log_start = rng.randint(0, 120)
    high = rng.randint(log_start, 400)
    [p] = plan_trim(TOPIC, files, {0: log_start}, {0: high}).partitions
    assert log_start <= p.new_log_start <= high
    # Every deleted offset is archived.
    assert all(o in held for o in range(log_start, p.new_log_start))
    # And the plan goes as far as it may: the next offset is unarchived or not yet written.
    assert p.new_log_start == high or p.new_log_start not in held


def test_a_file_that_fails_the_check_stops_the_plan_before_it() -> None:
    files = [af(0, 99), af(100, 199), af(200, 299)]
    seen: list[int] = []

    def check(f: ArchiveFile) -> str | None:
        seen.append(f.start_offset)
        return "broken" if f.start_offset == 100 else None

    [p] = plan_trim(TOPIC, files, {0: 0}, {0: 1000}, check=check).partitions
    assert p.new_log_start == 100 and "cannot be trusted: broken" in p.reason
    assert seen == [0, 100]  # nothing after the first bad file is needed


def test_footer_check_on_real_files(tmp_path: Path) -> None:
    store = ArchiveStorage(tmp_path.as_uri())
    records = [ArchivedRecord(TOPIC, 0, o, TS + o, b"k", make_packet(o)) for o in range(0, 10)]
    good = file_path(TOPIC, 0, 0, 9, TS)
    store.put_atomic(good, encode_parquet(table_from_records(records)))
    junk = file_path(TOPIC, 0, 10, 19, TS)
    store.put_atomic(junk, b"PAR1 truncated")
    crowded = file_path(TOPIC, 0, 20, 24, TS)  # 10 rows cannot fit 5 offsets
    store.put_atomic(crowded, encode_parquet(table_from_records(records)))
    files = store.list_files(TOPIC)
    check = footer_check(store)
    assert check(files[0]) is None
    assert "not a readable Parquet file" in (check(files[1]) or "")
    assert check(files[2]) == "10 rows for a range of 5 offsets"
    [p] = plan_trim(TOPIC, files, {0: 0}, {0: 100}, check=check).partitions
    assert p.new_log_start == 10 and junk in p.reason
