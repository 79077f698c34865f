"""Burrow's rules over synthetic windows, group aggregation and lag in seconds."""

from __future__ import annotations

import pytest

from cosmic_horizons.monitor.burrow import (
    OffsetSample,
    WatermarkHistory,
    evaluate_window,
    group_status,
    lag_seconds,
    worst_status,
)
from cosmic_horizons.monitor.health import Health, lag_health
from cosmic_horizons.monitor.models import GroupLag, LagStatus, PartitionLag


def window(*rows: tuple[float, int, int]) -> list[OffsetSample]:
    """Samples from ``(timestamp, committed, high watermark)`` rows."""
    return [OffsetSample(t, c, hw) for t, c, hw in rows]


# -- OK ------------------------------------------------------------------------------------


def test_ok_when_caught_up() -> None:
    status, rule = evaluate_window(window((0, 10, 50), (10, 50, 50)), now=10)
    assert (status, rule) == ("OK", "caught up: lag is 0")


def test_ok_when_lag_was_zero_within_the_window_even_if_committed_stands_still() -> None:
    # Without the zero-lag sample this window would be a STOP (offset never moved, lag > 0).
    samples = window((0, 100, 100), (10, 100, 120), (20, 100, 140))
    status, rule = evaluate_window(samples, now=20)
    assert status == "OK"
    assert rule.startswith("lag was 0 within the window (20 s ago)")


def test_ok_when_consumer_progresses_and_lag_goes_down_at_some_commit() -> None:
    samples = window((0, 100, 200), (10, 150, 230), (20, 220, 260), (30, 300, 310))
    status, rule = evaluate_window(samples, now=30)
    assert status == "OK"
    assert "progressing: +200 offsets in 30 s, lag 10" in rule


def test_single_sample_with_lag_is_ok_until_there_is_a_trend() -> None:
    status, rule = evaluate_window(window((0, 10, 50)), now=5)
    assert status == "OK"
    assert "lag 40; one sample so far" in rule


def test_empty_window_is_ok() -> None:
    assert evaluate_window([], now=0) == ("OK", "no offsets sampled yet")


# -- REWIND --------------------------------------------------------------------------------


def test_rewind_when_committed_offset_goes_backwards() -> None:
    samples = window((0, 500, 600), (10, 520, 620), (20, 100, 640), (30, 150, 660))
    status, rule = evaluate_window(samples, now=30)
    assert status == "REWIND"
    assert "went back from 520 to 100" in rule


def test_rewind_outranks_a_stop_in_the_same_window() -> None:
    samples = window((0, 500, 600), (10, 100, 620), (20, 100, 640), (30, 100, 660))
    assert evaluate_window(samples, now=90)[0] == "REWIND"


# -- STOP / STALL --------------------------------------------------------------------------


def test_stop_when_no_commit_moves_the_offset_in_the_whole_window() -> None:
    samples = window((0, 100, 150), (10, 100, 170), (20, 100, 190))
    status, rule = evaluate_window(samples, now=25, owned=False)
    assert status == "STOP"
    assert "no commit moved the offset for at least 25 s" in rule
    assert "lag 90" in rule
    assert "no member owns the partition" in rule


def test_stop_even_when_the_log_end_stands_still() -> None:
    # Producer and consumer both quiet, with a backlog left: still a stopped consumer.
    samples = window((0, 100, 150), (10, 100, 150), (20, 100, 150))
    assert evaluate_window(samples, now=20)[0] == "STOP"


def test_stop_when_ownership_is_unknown() -> None:
    samples = window((0, 100, 150), (10, 100, 170))
    status, rule = evaluate_window(samples, now=10, owned=None)
    assert status == "STOP"
    assert "no live owner reported" in rule


def test_stall_when_a_live_member_owns_the_partition_but_the_offset_does_not_move() -> None:
    samples = window((0, 100, 150), (10, 100, 170), (20, 100, 190))
    status, rule = evaluate_window(samples, now=20, owned=True)
    assert status == "STALL"
    assert "committed offset 100 unchanged for at least 20 s" in rule
    assert "lag 90" in rule


def test_no_stop_when_the_offset_moved_within_the_window() -> None:
    # One commit in the window (at t=30): the consumer is alive even though most samples repeat.
    samples = window((0, 100, 150), (10, 100, 170), (20, 100, 190), (30, 180, 210))
    assert evaluate_window(samples, now=35, owned=False)[0] == "OK"


# -- WARN ----------------------------------------------------------------------------------


def test_warn_when_lag_grows_at_every_commit() -> None:
    # The consumer commits every sample but the producer is faster: 50 -> 60 -> 70 -> 80.
    samples = window((0, 100, 150), (10, 110, 170), (20, 120, 190), (30, 130, 210))
    status, rule = evaluate_window(samples, now=30)
    assert status == "WARN"
    assert "lag never decreased over 3 commits (60 -> 80)" in rule


def test_warn_judges_commits_not_the_samples_between_them() -> None:
    # Sample lags 90, 60, 65, 70 fell once, but the first sample is no commit: the commits at
    # t=10 and t=30 show lags 60 and 70, so the consumer falls behind.
    samples = window((0, 100, 190), (10, 130, 190), (20, 130, 195), (30, 140, 210))
    assert evaluate_window(samples, now=30)[0] == "WARN"


def test_steady_lag_counts_as_not_decreasing() -> None:
    samples = window((0, 100, 140), (10, 110, 150), (20, 120, 160))
    assert evaluate_window(samples, now=20)[0] == "WARN"


def test_one_commit_is_not_enough_for_warn() -> None:
    samples = window((0, 100, 150), (10, 110, 170))
    assert evaluate_window(samples, now=10)[0] == "OK"


# -- aggregation ---------------------------------------------------------------------------


def partition(n: int, status: LagStatus, lag: int = 0, rule: str = "r") -> PartitionLag:
    return PartitionLag(
        topic="element.raw_data",
        partition=n,
        high_watermark=100,
        committed=100 - lag,
        lag=lag,
        lag_seconds=None,
        status=status,
        rule=rule,
    )


@pytest.mark.parametrize(
    ("statuses", "worst"),
    [
        ([], "OK"),
        (["OK", "OK"], "OK"),
        (["OK", "WARN"], "WARN"),
        (["WARN", "STALL"], "STALL"),
        (["STALL", "STOP", "WARN"], "STOP"),
        (["STOP", "REWIND"], "REWIND"),
        (["REWIND", "ERR", "OK"], "ERR"),
    ],
)
def test_worst_status_follows_burrows_severity(statuses: list[LagStatus], worst: str) -> None:
    assert worst_status(statuses) == worst


def test_group_takes_its_worst_partition_and_names_it() -> None:
    parts = [
        partition(0, "OK"),
        partition(1, "STOP", 40, "no commit moved the offset"),
        partition(2, "WARN", 10),
        partition(3, "STOP", 5, "another"),
    ]
    status, rule = group_status(parts)
    assert status == "STOP"
    assert rule == "element.raw_data[1]: no commit moved the offset (and 1 more STOP)"


def test_group_of_ok_partitions() -> None:
    assert group_status([partition(0, "OK"), partition(1, "OK")]) == (
        "OK",
        "all 2 partitions OK",
    )
    assert group_status([]) == ("OK", "no committed offsets")


def test_err_partition_makes_the_group_err() -> None:
    parts = [partition(0, "REWIND"), partition(1, "ERR", rule="high watermark unavailable")]
    assert group_status(parts) == ("ERR", "element.raw_data[1]: high watermark unavailable")


def _group(status: LagStatus) -> GroupLag:
    return GroupLag(
        group=f"g-{status}",
        state="STABLE",
        status=status,
        rule="r",
        total_lag=0,
        max_lag=0,
        max_lag_seconds=None,
        partitions=[],
        members=1,
    )


@pytest.mark.parametrize(
    ("status", "health"),
    [
        ("OK", Health.HEALTHY),
        ("WARN", Health.DEGRADED),
        ("STALL", Health.UNHEALTHY),
        ("STOP", Health.UNHEALTHY),
        ("REWIND", Health.UNHEALTHY),
        ("ERR", Health.UNHEALTHY),
    ],
)
def test_lag_health_maps_burrow_status_to_exit_codes(status: LagStatus, health: Health) -> None:
    assert lag_health([_group("OK"), _group(status)])[0] is health


# -- lag in seconds ------------------------------------------------------------------------


def test_lag_seconds_interpolates_when_the_log_end_passed_the_committed_offset() -> None:
    points = [(100.0, 0), (110.0, 100), (120.0, 300)]
    # offset 200 was the log end half-way between t=110 and t=120
    assert lag_seconds(points, 200, now=130.0) == pytest.approx(15.0)
    assert lag_seconds(points, 100, now=130.0) == pytest.approx(20.0)


def test_lag_seconds_is_zero_when_caught_up() -> None:
    assert lag_seconds([(0.0, 10), (5.0, 50)], 50, now=9.0) == 0.0
    assert lag_seconds([(0.0, 10)], 60, now=9.0) == 0.0


def test_lag_seconds_extrapolates_before_the_history_from_its_rate() -> None:
    # 10 offsets/s between t=100 and t=110; offset 0 was the log end at t=90.
    assert lag_seconds([(100.0, 100), (110.0, 200)], 0, now=120.0) == pytest.approx(30.0)


def test_lag_seconds_is_unknown_while_the_history_is_too_short() -> None:
    assert lag_seconds([], 10, now=5.0) is None
    assert lag_seconds([(0.0, 100)], 10, now=5.0) is None


def test_watermark_history_keeps_when_the_log_end_was_first_reached() -> None:
    history = WatermarkHistory(maxlen=3)
    for t, hw in [(0.0, 10), (1.0, 10), (2.0, 20), (3.0, 20), (4.0, 30), (5.0, 40)]:
        history.add(t, hw)
    assert list(history.points) == [(2.0, 20), (4.0, 30), (5.0, 40)]
    # a watermark going backwards (topic recreated) starts over
    history.add(6.0, 5)
    assert list(history.points) == [(6.0, 5)]
    # so the quiet log's age shows: offset 20 was reached at t=2
    history = WatermarkHistory()
    for t, hw in [(0.0, 10), (2.0, 20), (50.0, 20)]:
        history.add(t, hw)
    assert lag_seconds(list(history.points), 15, now=60.0) == pytest.approx(59.0)
