"""When records roll into files, fences and losses: one partition's ranges, no Kafka."""

from __future__ import annotations

from collections.abc import Sequence

from cosmic_horizons.archiver.ranges import (
    ClosedRange,
    Event,
    Lost,
    PartitionRanges,
    PassedFence,
    RollPolicy,
)
from cosmic_horizons.archiver.records import RecordRange

DAY_MS = 86_400_000
T0 = 1_795_780_800_000  # 2026-11-27T12:00:00Z


def batch(
    offsets: Sequence[int], stamps: Sequence[int] | None = None, size: int = 10
) -> tuple[RecordRange, list[str]]:
    """Records at ``offsets`` (key None, a value of ``size`` bytes), and a source per record."""
    stamps = list(stamps) if stamps is not None else [T0 + o for o in offsets]
    values: list[bytes | None] = [b"v" * size for _ in offsets]
    records = RecordRange("t", 0, list(offsets), stamps, [None] * len(offsets), values)
    return records, [f"msg{o}" for o in offsets]


def part(roll: RollPolicy | None = None, next_offset: int = 0, **kw: object) -> PartitionRanges:
    return PartitionRanges("t", 0, roll or RollPolicy(), next_offset, **kw)  # type: ignore[arg-type]


def spans(events: list[Event]) -> list[tuple[int, int]]:
    return [(e.start, e.end) for e in events if isinstance(e, ClosedRange)]


def test_a_range_closes_at_max_records_and_keeps_the_rest_open() -> None:
    p = part(RollPolicy(max_records=4))
    events = p.add(*batch(range(10)))
    assert spans(events) == [(0, 3), (4, 7)]
    first = events[0]
    assert isinstance(first, ClosedRange)
    assert list(first.records.offsets) == [0, 1, 2, 3]
    assert list(first.sources) == ["msg0", "msg1", "msg2", "msg3"]
    assert first.first_ts == T0
    assert p.open is not None and p.open.offsets == [8, 9]
    assert p.next_offset == 10 and p.consumed == 10
    assert p.stats().buffered == 10  # 8 in closed ranges not yet stored, 2 open
    for e in events:
        assert isinstance(e, ClosedRange)
        p.stored(e)
    assert p.stats().buffered == 2 and p.last_archived == 7


def test_records_added_one_batch_at_a_time_give_the_same_ranges() -> None:
    roll = RollPolicy(max_records=7, max_bytes=45)
    whole = part(roll)
    want = spans(whole.add(*batch(range(40), size=4)))
    pieces = part(roll)
    got: list[tuple[int, int]] = []
    for lo in range(0, 40, 3):
        got += spans(pieces.add(*batch(range(lo, min(lo + 3, 40)), size=4)))
    assert got == want and want


def test_a_range_closes_after_the_record_that_reaches_max_bytes() -> None:
    p = part(RollPolicy(max_bytes=30))
    assert spans(p.add(*batch(range(5), size=10))) == [(0, 2)]  # 30 bytes reached at offset 2


def test_a_record_that_would_go_over_max_bytes_starts_the_next_range() -> None:
    p = part(RollPolicy(max_bytes=25))
    assert spans(p.add(*batch(range(5), size=10))) == [(0, 1), (2, 3)]
    assert p.open is not None and p.open.nbytes == 10


def test_a_record_larger_than_max_bytes_gets_a_file_of_its_own() -> None:
    p = part(RollPolicy(max_bytes=5))
    assert spans(p.add(*batch(range(3), size=10))) == [(0, 0), (1, 1), (2, 2)]


def test_bytes_of_earlier_batches_count_towards_max_bytes() -> None:
    p = part(RollPolicy(max_bytes=50))
    assert p.add(*batch(range(3), size=10)) == []  # 30 bytes
    assert spans(p.add(*batch(range(3, 6), size=10))) == [(0, 4)]  # 50 at offset 4


def test_a_record_past_the_span_closes_the_range_before_it() -> None:
    p = part(RollPolicy(max_record_span_s=10))
    stamps = [T0, T0 + 5_000, T0 + 9_999, T0 + 10_000, T0 + 12_000]
    assert spans(p.add(*batch(range(5), stamps))) == [(0, 2)]
    assert p.open is not None and p.open.first_ts == T0 + 10_000


def test_a_range_never_crosses_a_utc_midnight() -> None:
    midnight = (T0 // DAY_MS + 1) * DAY_MS
    p = part(RollPolicy(max_record_span_s=7200))
    stamps = [midnight - 2, midnight - 1, midnight, midnight + 1]
    events = p.add(*batch(range(4), stamps))
    assert spans(events) == [(0, 1)]
    assert p.open is not None and p.open.first_ts == midnight


def test_a_record_without_timestamp_is_not_special_here() -> None:
    p = part(RollPolicy(max_record_span_s=1))
    assert spans(p.add(*batch(range(3), [0, 0, 999]))) == []  # the epoch's first second


def test_the_end_of_the_partition_closes_only_with_flush() -> None:
    p = part()
    p.add(*batch(range(3)))
    assert p.reached_end(flush=False) == [] and p.at_end and p.open is not None
    assert spans(p.reached_end(flush=True)) == [(0, 2)]
    p.add(*batch(range(3, 4)))
    assert not p.at_end


def test_the_position_moves_past_the_archive_and_ranges_ahead_become_fences() -> None:
    p = part(next_offset=10)
    p.fence([(40, 49), (0, 9), (10, 19), (20, 29), (5, 7)])
    assert p.next_offset == 30
    assert p.last_archived == 29
    assert p.fences == [(40, 49)]
    q = part(next_offset=0)
    q.fence([])
    assert (q.next_offset, q.last_archived, q.fences) == (0, None, [])


def test_a_fence_closes_the_range_before_it_and_is_skipped() -> None:
    p = part(next_offset=0, fences=[(5, 9)])
    events = p.add(*batch(range(12)))
    # the range closes at 4 and the fence is passed; 6..9 of this batch are dropped, 10 and
    # 11 kept (their copies read again after the seek to 10 are then dropped as stale)
    assert events[1:] == [PassedFence(5, 9)]
    assert spans(events) == [(0, 4)]
    assert p.next_offset == 12 and p.fences == [] and p.last_archived == 9
    assert p.open is not None and p.open.offsets == [10, 11]
    assert p.add(*batch(range(10, 14))) == []
    assert p.open.offsets == [10, 11, 12, 13]


def test_records_fetched_before_a_seek_are_dropped() -> None:
    p = part(next_offset=10)
    assert p.add(*batch(range(6, 13))) == []
    assert p.open is not None and p.open.offsets == [10, 11, 12]
    assert p.consumed == 3


def test_a_fence_jumped_over_by_the_reading_is_only_dropped() -> None:
    p = part(next_offset=0, fences=[(5, 6)])
    events = p.add(*batch([0, 1, 2, 3, 4, 8, 9]))  # 5..7 not read (markers, say)
    assert spans(events) == [(0, 4)]  # closed at min(5 - 1, 8 - 1)
    assert not any(isinstance(e, PassedFence) for e in events)
    assert p.fences == [] and p.last_archived is None
    assert p.open is not None and p.open.offsets == [8, 9]


def test_gaps_above_the_log_start_are_not_loss() -> None:
    p = part()
    records = batch([0, 1, 3, 4])
    assert p.jumped(records[0].offsets)
    assert p.add(*records, log_start=0) == []
    assert p.lost == 0 and p.open is not None and p.open.offsets == [0, 1, 3, 4]
    assert not part().jumped([0, 1, 2])


def test_a_gap_below_the_log_start_closes_the_range_and_counts_the_loss() -> None:
    p = part()
    events = p.add(*batch([0, 1, 2, 7, 8]), log_start=7)
    assert spans(events) == [(0, 2)]
    assert events[-1] == Lost(3, 6, 4)
    assert p.lost == 4 and p.next_offset == 9
    assert p.open is not None and p.open.start == 7


def test_a_loss_at_the_start_of_a_batch() -> None:
    p = part(next_offset=0)
    assert p.add(*batch([5, 6]), log_start=5) == [Lost(0, 4, 5)]
    assert p.open is not None and p.open.offsets == [5, 6]


def test_a_loss_closes_the_open_range_at_the_last_offset_read() -> None:
    p = part()
    p.add(*batch(range(3)))
    events = p.lose(3, 5)
    assert spans(events) == [(0, 2)] and events[-1] == Lost(3, 5, 3)


def test_revocation_drops_the_open_range() -> None:
    p = part()
    p.add(*batch(range(3)))
    dropped = p.drop_open()
    assert dropped is not None and (dropped.start, dropped.count) == (0, 3)
    assert p.open is None and p.stats().buffered == 0
