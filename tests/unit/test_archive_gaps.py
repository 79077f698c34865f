"""Lost offsets vs harmless gaps: a gap is a loss only when the log start passed it."""

from __future__ import annotations

import pytest

from cosmic_horizons.archiver.gaps import Loss, find_loss


def test_consecutive_offsets_lose_nothing() -> None:
    assert find_loss(10, [10, 11, 12], 0) is None
    assert find_loss(10, [10, 11, 12], 10) is None


def test_marker_gaps_below_an_old_log_start_are_not_loss() -> None:
    # transaction markers at 5 and 11: the log start (0) never passed them
    assert find_loss(0, [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 12], 0) is None
    # a jump between batches over a marker
    assert find_loss(5, [6, 7], 0) is None
    # compaction removed 3..8; the log start is still below the expected offset
    assert find_loss(3, [9, 10], 2) is None


def test_jump_between_batches_past_the_log_start_is_a_loss() -> None:
    loss = find_loss(20, [40, 41, 42], 40)
    assert loss == Loss(index=0, first=20, last=39)
    assert loss is not None and loss.size == 20


def test_jump_inside_a_batch_splits_it() -> None:
    loss = find_loss(5, [5, 6, 7, 30, 31], 30)
    assert loss == Loss(index=3, first=8, last=29)


def test_records_between_the_log_start_and_the_first_read_are_not_counted() -> None:
    # log start 30, the first record read is 33 (30..32 were markers): lost are 8..29
    assert find_loss(5, [5, 6, 7, 33], 30) == Loss(index=3, first=8, last=29)


def test_log_start_ahead_of_a_contiguous_batch_is_not_yet_a_loss() -> None:
    # the records were fetched before the deletion; a jump, if any, comes later
    assert find_loss(0, [0, 1, 2, 3], 50) is None


def test_log_start_beyond_the_whole_batch_still_finds_the_jump() -> None:
    # retention moved on again after the reset: the batch after the jump lies below it
    assert find_loss(100, [500, 501], 600) == Loss(index=0, first=100, last=499)


def test_a_gap_below_the_log_start_counts_even_if_it_was_a_marker() -> None:
    # offset 3 is gone from the log and nothing was read for it: an upper bound
    assert find_loss(0, [0, 1, 2, 4], 50) == Loss(index=3, first=3, last=3)


def test_log_start_right_after_the_last_read_record_loses_nothing() -> None:
    # 5..7 read, the log start is 8, and the next record is 12 (8..11 were markers)
    assert find_loss(5, [5, 6, 7, 12], 8) is None


def test_several_gaps_are_found_one_after_the_other() -> None:
    offsets = [5, 6, 7, 30, 31, 40]
    first = find_loss(5, offsets, 35)
    assert first == Loss(index=3, first=8, last=29)
    rest = offsets[first.index :]
    second = find_loss(first.last + 1, rest, 35)
    assert second == Loss(index=2, first=32, last=34)  # 35..39 lie above the log start
    assert find_loss(second.last + 1, rest[second.index :], 35) is None


def test_stale_records_before_the_expected_offset_are_ignored() -> None:
    # records fetched before a seek (below ``expected``) do not shrink the loss
    assert find_loss(10, [3, 4, 50, 51], 50) == Loss(index=2, first=10, last=49)


@pytest.mark.parametrize("log_start", [None, 0, 7])
def test_unknown_or_old_log_start_is_never_a_loss(log_start: int | None) -> None:
    assert find_loss(7, [100, 101], log_start) is None


def test_no_offsets_no_loss() -> None:
    assert find_loss(0, [], 100) is None
