"""Burrow's lag evaluation rules and kafka-lag-exporter's lag in seconds, as pure functions.

Burrow judges a partition over a sliding window of its consumer's offsets instead of a fixed lag
threshold. With ``lag = high watermark - committed`` and ``allowed_lag`` (0 by default, Burrow's
``allowed-lag``), checked in this order:

1. OK      the current lag is at most ``allowed_lag``;
2. UNKNOWN one sample only: lag, but no trend to judge yet (not OK: nothing says it moves);
3. REWIND  the committed offset went backwards and has not come back to where it was
           (Burrow's ``checkIfRewindRecovered``: once a later sample reaches the offset from
           before the step back, the rewind is over and the other rules judge the window);
4. OK      the lag was at most ``allowed_lag`` at any sample in the window;
5. STOP    no commit moved the offset during the whole window while there is lag, and no
           live member owns the partition;
6. STALL   the same, but a live member owns the partition: the consumer is alive and stuck;
7. WARN    the lag never decreased from one commit to the next: the consumer is not keeping up;
8. OK      otherwise (the consumer makes progress).

Burrow's window holds the consumer's commits. The monitor sees the committed offset only when it
samples it, so its window holds its own periodic samples; a "commit" is a sample where the offset
moved, and since repeated commits of one offset are invisible, a live owner of the partition is
what tells STALL (committing, stuck) from STOP (gone). Burrow calls a partition stopped once the
time since its last commit exceeds the span of its commits; the monitor needs a whole window of
samples without movement instead (its samples keep coming while commits do not), so rule 5 can
come after rule 4 without hiding a stop: a window that never moved and held zero lag at some
sample is Burrow's "recently caught up" exception. The window must span more than the consumers'
commit interval (``auto.commit.interval.ms``, 5 s by default) or a healthy consumer with a
standing backlog between two commits looks stopped.

Severity follows Burrow's ranking (REWIND > STALL > STOP > WARN > OK), with UNKNOWN just above OK
and ERR (a partition whose offsets could not be read) above all. A group takes its worst
partition's status; Burrow would report any STOP/STALL/REWIND group as ERR, which here is the
exit code (2, unhealthy) while the status keeps the rule that fired.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from itertools import pairwise

import msgspec

from .models import LAG_STATUSES, GroupLag, LagStatus, PartitionLag

__all__ = [
    "MIN_SAMPLES",
    "OffsetSample",
    "WatermarkHistory",
    "evaluate_window",
    "group_lag",
    "group_status",
    "lag_seconds",
    "worst_status",
]

#: Fewer samples than this cannot show a trend: a partition with lag is UNKNOWN until then.
MIN_SAMPLES = 2
_SEVERITY = {status: rank for rank, status in enumerate(LAG_STATUSES)}


class OffsetSample(msgspec.Struct, frozen=True):
    """One observation of a group's partition: when, its committed offset, the log's end."""

    timestamp: float
    committed: int
    high_watermark: int

    @property
    def lag(self) -> int:
        """Records behind the end of the log (never negative)."""
        return max(0, self.high_watermark - self.committed)


def _secs(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def _unrecovered_rewind(samples: Sequence[OffsetSample]) -> tuple[int, int, float] | None:
    """The first backward step no later sample recovered from: (from, to, when), or None."""
    for i in range(1, len(samples)):
        before, after = samples[i - 1].committed, samples[i].committed
        if after < before and all(s.committed < before for s in samples[i + 1 :]):
            return before, after, samples[i].timestamp
    return None


def evaluate_window(
    samples: Sequence[OffsetSample],
    *,
    now: float,
    owned: bool | None = None,
    allowed_lag: int = 0,
) -> tuple[LagStatus, str]:
    """Burrow's status of one partition over its window (oldest first) and the rule that fired.

    ``owned`` says whether a live member of the group is assigned the partition (None: unknown).
    A lag of at most ``allowed_lag`` counts as caught up (Burrow's ``allowed-lag``).
    """
    if not samples:
        return "OK", "no offsets sampled yet"
    last = samples[-1]
    if last.lag <= allowed_lag:
        return "OK", f"caught up: lag is {last.lag}"
    if len(samples) < MIN_SAMPLES:
        return "UNKNOWN", (
            f"unknown (one sample): lag {last.lag}; judging a trend needs {MIN_SAMPLES} samples"
        )
    rewind = _unrecovered_rewind(samples)
    if rewind is not None:
        before, after, at = rewind
        return "REWIND", (
            f"committed offset went back from {before} to {after} ({_secs(now - at)} ago) "
            f"and has not reached {before} again"
        )
    zero = next((s for s in samples if s.lag <= allowed_lag), None)
    if zero is not None:
        return "OK", f"lag was {zero.lag} within the window ({_secs(now - zero.timestamp)} ago)"
    first = samples[0]
    moves = [cur for prev, cur in pairwise(samples) if cur.committed != prev.committed]
    if not moves:
        idle = _secs(now - first.timestamp)
        if owned:
            return "STALL", (
                f"committed offset {last.committed} unchanged for at least {idle} (the whole "
                f"window) while a member owns the partition; lag {last.lag}"
            )
        who = "no member owns the partition" if owned is False else "no live owner reported"
        return "STOP", (
            f"no commit moved the offset for at least {idle} (the whole window); "
            f"lag {last.lag}; {who}"
        )
    lags = [m.lag for m in moves]
    if len(lags) >= 2 and all(b >= a for a, b in pairwise(lags)):
        return "WARN", (
            f"lag never decreased over {len(lags)} commits ({lags[0]} -> {lags[-1]}): "
            "the consumer is not keeping up"
        )
    return "OK", (
        f"consumer progressing: +{last.committed - first.committed} offsets "
        f"in {_secs(last.timestamp - first.timestamp)}, lag {last.lag}"
    )


def worst_status(statuses: Iterable[LagStatus]) -> LagStatus:
    """The most severe status (OK for none)."""
    return max(statuses, key=_SEVERITY.__getitem__, default="OK")


def group_status(partitions: Sequence[PartitionLag]) -> tuple[LagStatus, str]:
    """A group's status is its worst partition's; the rule names that partition."""
    if not partitions:
        return "OK", "no committed offsets"
    worst = max(partitions, key=lambda p: _SEVERITY[p.status])
    if worst.status == "OK":
        return "OK", f"all {len(partitions)} partitions OK"
    same = sum(1 for p in partitions if p.status == worst.status)
    more = f" (and {same - 1} more {worst.status})" if same > 1 else ""
    return worst.status, f"{worst.topic}[{worst.partition}]: {worst.rule}{more}"


def group_lag(group: str, state: str, members: int, partitions: list[PartitionLag]) -> GroupLag:
    """A group's totals and status from its partitions.

    ``max_lag_seconds`` is the largest estimate among the lagging partitions, or None when any
    lagging partition's estimate is unknown: an unknown age is never reported as 0.
    """
    status, rule = group_status(partitions)
    lags = [p.lag for p in partitions if p.lag is not None]
    lagging = [p for p in partitions if p.lag]
    seconds: float | None
    if any(p.lag_seconds is None for p in lagging):
        seconds = None
    elif lagging:
        seconds = max(p.lag_seconds or 0.0 for p in lagging)
    else:
        known = [p.lag_seconds for p in partitions if p.lag_seconds is not None]
        seconds = max(known) if known else None
    return GroupLag(
        group=group,
        state=state,
        status=status,
        rule=rule,
        total_lag=sum(lags),
        max_lag=max(lags, default=0),
        max_lag_seconds=seconds,
        partitions=partitions,
        members=members,
    )


class WatermarkHistory:
    """A partition's high watermark over time: the table lag in seconds is read from.

    A point is added only when the watermark moves, so a quiet log keeps the time its end was
    first reached. A watermark that goes backwards (topic recreated) starts a new history.
    """

    def __init__(self, maxlen: int = 120) -> None:
        self.points: deque[tuple[float, int]] = deque(maxlen=maxlen)

    def add(self, timestamp: float, high_watermark: int) -> None:
        if self.points:
            last_ts, last_hw = self.points[-1]
            if high_watermark == last_hw or timestamp < last_ts:
                return
            if high_watermark < last_hw:
                self.points.clear()
        self.points.append((timestamp, high_watermark))


def lag_seconds(points: Sequence[tuple[float, int]], committed: int, *, now: float) -> float | None:
    """How long ago the log's end was at ``committed`` (kafka-lag-exporter's estimate).

    ``points`` are ``(time, high watermark)`` pairs, oldest first, watermarks increasing. The
    time is interpolated between the two points around ``committed``, or extrapolated from the
    table's average rate when ``committed`` is older than the oldest point. 0 when caught up;
    None while the history is too short to tell.
    """
    if not points:
        return None
    if committed >= points[-1][1]:
        return 0.0
    for i, (ts, hw) in enumerate(points):
        if hw == committed:
            return max(0.0, now - ts)
        if hw > committed:
            if i == 0:
                break
            t0, h0 = points[i - 1]
            at = t0 + (committed - h0) / (hw - h0) * (ts - t0)
            return max(0.0, now - at)
    if len(points) < 2:
        return None
    (t_first, h_first), (t_last, h_last) = points[0], points[-1]
    if h_last <= h_first or t_last <= t_first:
        return None
    rate = (h_last - h_first) / (t_last - t_first)
    at = t_first - (h_first - committed) / rate
    return max(0.0, now - at)
