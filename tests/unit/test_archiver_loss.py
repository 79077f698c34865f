"""The archiver's bookkeeping of lost offsets (no broker: the partition's ranges alone)."""

from __future__ import annotations

import logging

import pytest

from cosmic_horizons.archiver.ranges import Lost, PartitionRanges, RollPolicy
from cosmic_horizons.archiver.stats import ArchiverCounters


def partition(
    p: int, next_offset: int, fences: list[tuple[int, int]], last: int
) -> PartitionRanges:
    return PartitionRanges(
        "element.raw_data", p, RollPolicy(), next_offset, fences=fences, last_archived=last
    )


def test_archived_ranges_inside_the_lost_stretch_are_not_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counters = ArchiverCounters("element.raw_data", "g", "file:///x")
    state = partition(3, 10, [(20, 29), (90, 120), (200, 300)], 9)
    with caplog.at_level(logging.WARNING):
        events = state.lose(10, 99)
    # 10..99 is 90 offsets; 20..29 and 90..99 are archived
    assert events == [Lost(10, 99, 70)]  # nothing was open, so nothing closed
    counters.lost_offsets += sum(e.count for e in events if isinstance(e, Lost))
    assert state.lost == counters.lost_offsets == 70
    assert state.next_offset == 100
    assert state.fences == [(90, 120), (200, 300)]  # 90..120 still fences the reading
    assert state.last_archived == 29
    assert "element.raw_data partition 3: offsets 10-99 (70 not archived)" in caplog.text
    assert counters.snapshot([state.stats()]).lost_offsets == 70
    assert state.stats().lost_offsets == 70


def test_a_stretch_wholly_archived_is_no_loss() -> None:
    state = partition(0, 10, [(10, 49)], 9)
    assert state.lose(10, 49) == []  # no loss: the archiver's count and last error stay
    assert state.lost == 0
    assert state.next_offset == 50 and state.fences == [] and state.last_archived == 49


def test_a_stretch_already_passed_is_ignored() -> None:
    state = partition(0, 60, [], 59)
    assert state.lose(10, 49) == []
    assert state.lost == 0 and state.next_offset == 60
