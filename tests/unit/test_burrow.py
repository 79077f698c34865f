"""Burrow's rules over synthetic windows, group aggregation and lag in seconds."""

from __future__ import annotations

import msgspec
import pytest

from cosmic_horizons.monitor.burrow import (
    OffsetSample,
    WatermarkHistory,
    evaluate_window,
    group_lag,
    group_status,
    lag_seconds,
    worst_status,
)
from cosmic_horizons.monitor.health import ServiceHealth, lag_health
from cosmic_horizons.monitor.models import GroupLag, LagStatus, PartitionLag


def window(*rows: tuple[float, int, int]) -> list[OffsetSample]:
    """Samples from ``(timestamp, committed, high watermark)`` rows."""
    return [OffsetSample(t, c, hw) for t, c, hw in rows]


# -- OK ------------------------------------------------------------------------------------


def test_ok_when_caught_up() -> None:
    status, rule = evaluate_window(window((0, 10, 50), (10, 50, 50)), now=10)
    assert (status, rule) == ("OK", "caught up: lag is 0")


def test_one_sample_with_lag_is_unknown_not_ok() -> None:
    # `horizons lag --samples 1` on a stopped group with 296k lag: one sample shows no trend.
    status, rule = evaluate_window(window((0, 10, 296_010)), now=5)
    assert status == "UNKNOWN"
    assert rule == "unknown (one sample): lag 296000; judging a trend needs 2 samples"


def test_one_sample_without_lag_is_ok() -> None:
    assert evaluate_window(window((0, 50, 50)), now=5) == ("OK", "caught up: lag is 0")


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


def test_empty_window_is_ok() -> None:
    assert evaluate_window([], now=0) == ("OK", "no offsets sampled yet")


# -- REWIND --------------------------------------------------------------------------------


def test_rewind_when_committed_offset_goes_backwards() -> None:
    samples = window((0, 500, 600), (10, 520, 620), (20, 100, 640), (30, 150, 660))
    status, rule = evaluate_window(samples, now=30)
    assert status == "REWIND"
    assert "went back from 520 to 100" in rule
    assert "has not reached 520 again" in rule


def test_rewind_clears_once_the_offset_passes_the_pre_rewind_value() -> None:
    # Commits 1000 -> 2000 -> 3000 -> 2000 -> 4000: back at 3000 and beyond, the rewind is over
    # (Burrow's checkIfRewindRecovered) even while the backward pair is still in the window.
    samples = window((0, 1000, 1100), (10, 2000, 2150), (20, 3000, 3200), (30, 2000, 3250))
    assert evaluate_window(samples, now=30)[0] == "REWIND"
    samples.append(OffsetSample(40, 4000, 4300))
    status, rule = evaluate_window(samples, now=40)
    assert status == "OK"
    assert "progressing" in rule


def test_rewind_reached_exactly_the_pre_rewind_offset_is_recovered() -> None:
    samples = window((0, 1000, 1500), (10, 600, 1500), (20, 1000, 1500))
    assert evaluate_window(samples, now=20)[0] != "REWIND"


def test_a_later_unrecovered_rewind_still_counts() -> None:
    # Burrow looks only at the first backward step; here every step back is judged, so a second
    # rewind is not hidden by the recovery of the first one.
    samples = window((0, 1000, 3000), (10, 500, 3000), (20, 2000, 3000), (30, 1200, 3000))
    status, rule = evaluate_window(samples, now=30)
    assert status == "REWIND"
    assert "went back from 2000 to 1200" in rule


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
        (["OK", "UNKNOWN"], "UNKNOWN"),
        (["UNKNOWN", "WARN"], "WARN"),
        (["WARN", "STOP"], "STOP"),
        # Burrow's ranking: STALL (5) above STOP (4), REWIND (6) above both.
        (["STALL", "STOP", "WARN"], "STALL"),
        (["STOP", "REWIND", "STALL"], "REWIND"),
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
    # Burrow would call this group ERR (any STOP/STALL/REWIND partition). Here the group keeps
    # its worst partition's status so the rule that fired stays visible in --json, the API and
    # the metrics; the exit code (2, unhealthy) is the same for all of them, like Burrow's ERR,
    # and ERR itself keeps its own meaning: a partition whose offsets could not be read.
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
        ("OK", ServiceHealth.HEALTHY),
        ("UNKNOWN", ServiceHealth.UNKNOWN),
        ("WARN", ServiceHealth.DEGRADED),
        ("STALL", ServiceHealth.UNHEALTHY),
        ("STOP", ServiceHealth.UNHEALTHY),
        ("REWIND", ServiceHealth.UNHEALTHY),
        ("ERR", ServiceHealth.UNHEALTHY),
    ],
)
def test_lag_health_maps_burrow_status_to_exit_codes(
    status: LagStatus, health: ServiceHealth
) -> None:
    assert lag_health([_group("OK"), _group(status)])[0] is health


def test_unknown_exit_code_is_distinct_from_every_other() -> None:
    assert int(ServiceHealth.UNKNOWN) == 3
    assert lag_health([_group("UNKNOWN"), _group("WARN")])[0] is ServiceHealth.DEGRADED
    assert lag_health([_group("UNKNOWN"), _group("STOP")])[0] is ServiceHealth.UNHEALTHY


# -- group totals --------------------------------------------------------------------------


def _row(n: int, lag: int, seconds: float | None, status: LagStatus = "OK") -> PartitionLag:
    return msgspec.structs.replace(partition(n, status, lag), lag_seconds=seconds)


def test_group_max_lag_seconds_is_unknown_while_a_lagging_partition_is_unknown() -> None:
    # the caught-up partition's 0.0 must not stand in for the lagging one's unknown age
    g = group_lag("g", "STABLE", 1, [_row(0, 0, 0.0), _row(1, 40, None)])
    assert g.max_lag_seconds is None
    assert (g.total_lag, g.max_lag) == (40, 40)


def test_group_max_lag_seconds_of_known_estimates() -> None:
    g = group_lag("g", "STABLE", 1, [_row(0, 0, 0.0), _row(1, 40, 12.5), _row(2, 5, 3.0)])
    assert g.max_lag_seconds == 12.5
    assert group_lag("g", "STABLE", 1, [_row(0, 0, 0.0)]).max_lag_seconds == 0.0
    assert group_lag("g", "EMPTY", 0, []).max_lag_seconds is None


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


# -- Burrow's own evaluator vectors (core/internal/evaluator/caching_test.go) ---------------
#
# Each Burrow vector is a list of commits (offset, timestamp in ms, lag at the commit or None),
# the current lag, the time of the evaluation (s) and the allowed lag. The monitor judges samples,
# not commits, so a vector becomes samples: every commit with a known lag is a sample
# (committed = offset, high watermark = offset + lag) and the evaluation adds one more sample at
# ``now`` (the last offset, with the current lag). Burrow's repeated commits of one offset show a
# live consumer; the monitor learns that from the group's members, so the STALL vectors run with
# ``owned=True``.

_C = tuple[int, int, int | None]


def burrow_samples(commits: list[_C], now: float, current_lag: int) -> list[OffsetSample]:
    samples = [
        OffsetSample(ts / 1000, off, off + lag) for off, ts, lag in commits if lag is not None
    ]
    last = commits[-1][0]
    if now > samples[-1].timestamp:
        samples.append(OffsetSample(now, last, last + current_lag))
    return samples


def _steps(offsets: list[int], lags: list[int | None], step_ms: int = 100_000) -> list[_C]:
    return [
        (o, step_ms * (i + 1), lag) for i, (o, lag) in enumerate(zip(offsets, lags, strict=True))
    ]


_RISING = [1000, 2000, 3000, 4000, 5000]
_FLAT = [1000] * 5
_REWOUND = [1000, 2000, 3000, 2000, 4000]
_V9 = [
    (792748079 + i, ts, 0)
    for i, ts in enumerate(
        [
            1512224618356,
            1512224619362,
            1512224620366,
            1512224621367,
            1512224622370,
            1512224623373,
            1512224624378,
            1512224625379,
            1512224626383,
            1512224627383,
            1512224628383,
            1512224629388,
            1512224630391,
            1512224631394,
            1512224632397,
        ]
    )
]

# (vector, commits, current lag, now, allowed lag, owned, Burrow's status, the monitor's status)
BURROW_VECTORS: list[tuple[int, list[_C], int, float, int, bool | None, str, str]] = [
    # 0: zero lag at the first commit -> OK
    (0, _steps(_RISING, [0, 50, 100, 150, 200]), 200, 600, 0, None, "OK", "OK"),
    # 1: 400 s since the last commit equals the commits' span: not stopped yet -> OK
    (1, _steps(_RISING, [0, 50, 100, 150, 200]), 200, 900, 0, None, "OK", "OK"),
    # 2: 500 s since the last commit exceeds the span -> Burrow STOP (#290). DIFFERENCE: the
    #    monitor's STOP needs a whole window of samples without movement; this window still
    #    holds the commits (and their zero lag), so it is OK until they slide out (see below).
    (2, _steps(_RISING, [0, 50, 100, 150, 200]), 200, 1000, 0, None, "STOP", "OK"),
    # 3: the same stop with lag never zero -> Burrow STOP. DIFFERENCE: as in 2, the commits are
    #    still in the window; their lag rose at every commit, so the monitor says WARN until the
    #    window holds the stop alone.
    (3, _steps(_RISING, [50, 100, 150, 200, 250]), 250, 1000, 0, None, "STOP", "WARN"),
    # 4: the offset never moves, but lag was zero at the first commit -> OK
    (4, _steps(_FLAT, [0, 50, 100, 150, 200]), 200, 600, 0, True, "OK", "OK"),
    # 5: the offset never moves and lag is never zero -> STALL (a live owner commits it)
    (5, _steps(_FLAT, [100, 150, 200, 250, 300]), 300, 600, 0, True, "STALL", "STALL"),
    # 6: STALL even when the lag holds steady
    (6, _steps(_FLAT, [100] * 5), 100, 600, 0, True, "STALL", "STALL"),
    # 7: 1000 -> 2000 -> 3000 -> 2000 -> 4000: the rewind recovered (4000 >= 3000) and the lag
    #    fell at the last commit -> OK (the project's REWIND that never cleared)
    (7, _steps(_REWOUND, [100, 150, 200, 1250, 300]), 300, 600, 0, None, "OK", "OK"),
    # 8: current lag 0 -> OK whatever the window says
    (8, _steps(_RISING, [50, 100, 150, 200, 250]), 0, 1000, 0, None, "OK", "OK"),
    # 9: caught up at every commit, then 18 s without a commit while data arrives -> Burrow STOP
    #    (#290). DIFFERENCE: the zero-lag commits are still in the monitor's window -> OK until
    #    the window holds only samples of the stopped offset (see below).
    (9, _V9, 931, 1512224650, 0, None, "STOP", "OK"),
    # 10: as 9, but the log end was at the last commit within the broker offsets -> OK (#303)
    (10, _V9, 1, 1512224650, 0, None, "OK", "OK"),
    # 11: vector 0 with commits of unknown lag in between -> OK. DIFFERENCE in form only: every
    #     sample of the monitor has a watermark, so commits without a lag are left out.
    (
        11,
        [
            (1000 + 500 * i, 100_000 + 50_000 * i, None if i % 2 else 50 * (i // 2))
            for i in range(10)
        ],
        200,
        600,
        0,
        None,
        "OK",
        "OK",
    ),
    # 12: current lag 1 within the allowed lag 1, although stopped by the timestamps -> OK
    (12, [(1000, 100_000, 2), (2000, 200_000, 1), (2000, 300_000, 1)], 1, 550, 1, None, "OK", "OK"),
    # 13: vector 5 with allowed lag 99 (every lag is above it) -> STALL
    (13, _steps(_FLAT, [100, 150, 200, 250, 300]), 300, 600, 99, True, "STALL", "STALL"),
    # 14: vector 7 with allowed lag 99 -> OK
    (14, _steps(_REWOUND, [100, 150, 200, 1250, 300]), 300, 600, 99, None, "OK", "OK"),
    # 15: 3000 -> 2000 -> 2500: the rewind has not come back to 3000 -> REWIND
    (
        15,
        _steps([1000, 2000, 3000, 2000, 2500], [100, 150, 200, 1250, 300]),
        300,
        600,
        0,
        None,
        "REWIND",
        "REWIND",
    ),
]


@pytest.mark.parametrize(
    ("vector", "commits", "current_lag", "now", "allowed", "owned", "burrow", "expected"),
    BURROW_VECTORS,
    ids=[f"burrow-{v[0]}" for v in BURROW_VECTORS],
)
def test_burrow_evaluator_vector(
    vector: int,
    commits: list[_C],
    current_lag: int,
    now: float,
    allowed: int,
    owned: bool | None,
    burrow: str,
    expected: str,
) -> None:
    samples = burrow_samples(commits, now, current_lag)
    status, _ = evaluate_window(samples, now=now, owned=owned, allowed_lag=allowed)
    assert status == expected, f"Burrow vector {vector}: Burrow says {burrow}"


@pytest.mark.parametrize("vector", [2, 3, 9])
def test_burrow_stop_vectors_stop_once_the_window_holds_only_the_stop(vector: int) -> None:
    # The DIFFERENCE of vectors 2, 3 and 9 closes as the monitor keeps sampling: its samples
    # come every interval whether or not the consumer commits, so once a whole window (five
    # samples here) shows the last offset unmoved with lag, the partition is STOP, as in Burrow.
    _, commits, current_lag, now, allowed, owned, burrow, _ = BURROW_VECTORS[vector]
    assert burrow == "STOP"
    last = commits[-1][0]
    later = [OffsetSample(now + 10 * i, last, last + current_lag) for i in range(5)]
    status, rule = evaluate_window(later, now=now + 40, owned=owned, allowed_lag=allowed)
    assert status == "STOP"
    assert "whole window" in rule


# Burrow's storage fixture (core/internal/storage/fixtures.go): one partition, broker offset
# 4321, commits 1000, 1100, ... every 10 s starting 100 s ago; group "testgroup" holds a full
# ring of 10 commits, "testgroup2" only the first 5.
_FIXTURE_HW = 4321


def _fixture(commits: int) -> list[OffsetSample]:
    return [OffsetSample(10.0 * i, 1000 + 100 * i, _FIXTURE_HW) for i in range(commits)]


def _fixture_group(name: str, samples: list[OffsetSample], now: float) -> GroupLag:
    status, rule = evaluate_window(samples, now=now, owned=None)
    row = PartitionLag(
        topic="testtopic",
        partition=0,
        high_watermark=_FIXTURE_HW,
        committed=samples[-1].committed,
        lag=samples[-1].lag,
        lag_seconds=None,
        status=status,
        rule=rule,
    )
    return group_lag(name, "STABLE", 1, [row])


def test_burrow_storage_fixture_testgroup_is_ok_with_total_lag_2421() -> None:
    g = _fixture_group("testgroup", _fixture(10), now=100.0)
    assert (g.status, g.total_lag, len(g.partitions)) == ("OK", 2421, 1)
    assert lag_health([g])[0] is ServiceHealth.HEALTHY


def test_burrow_storage_fixture_testgroup2() -> None:
    # Burrow: partition STOP (60 s since the last of 5 commits spanning 40 s; complete 0.5),
    # group ERR, total lag 2921. DIFFERENCE: the monitor's window of 10 samples keeps sampling
    # every 10 s, so at t=100 it still holds the moves at 20, 30 and 40 s (lag falling): OK.
    # It reaches STOP at t=140, when the whole window shows 1400 unmoved; the group is then
    # STOP with exit code 2, which is what Burrow's group ERR means.
    samples = _fixture(5) + [OffsetSample(10.0 * i, 1400, _FIXTURE_HW) for i in range(5, 11)]
    g = _fixture_group("testgroup2", samples[-10:], now=100.0)
    assert (g.status, g.total_lag) == ("OK", 2921)
    more = samples + [OffsetSample(10.0 * i, 1400, _FIXTURE_HW) for i in range(11, 15)]
    g = _fixture_group("testgroup2", more[-10:], now=140.0)
    assert (g.status, g.total_lag) == ("STOP", 2921)
    assert lag_health([g])[0] is ServiceHealth.UNHEALTHY


def test_embedded_cluster_id_is_the_embedded_brokers_default() -> None:
    # The monitor corrects the short watermark only on the embedded broker, told by its id.
    from cosmic_horizons.broker import EmbeddedBroker, is_embedded_cluster_id

    assert is_embedded_cluster_id(EmbeddedBroker().cluster_id)
    assert not is_embedded_cluster_id("MkU3OEVBNTcwNTJENDM2Qk")  # a real KRaft cluster id
