"""Burrow's lag evaluation rules and kafka-lag-exporter's lag in seconds, as pure functions.

Burrow judges a partition over a sliding window of its consumer's offsets instead of a fixed lag
threshold. Checked in Burrow's order (worst first), with ``lag = high watermark - committed``:

1. OK     the current lag is zero, or the lag was zero at any sample in the window;
2. REWIND the committed offset went backwards between two samples;
3. STOP   no commit moved the offset during the whole window (the time since the last commit
          exceeds the window's span) while there is lag, and no live member owns the partition;
4. STALL  the same, but a live member owns the partition: the consumer is alive and stuck;
5. WARN   the lag never decreased from one commit to the next: the consumer is not keeping up;
6. OK     otherwise (the consumer makes progress).

Burrow's window holds the consumer's commits. The monitor sees the committed offset only when it
samples it, so its window holds its own periodic samples; a "commit" is a sample where the offset
moved, and since repeated commits of one offset are invisible, a live owner of the partition is
what tells STALL (committing, stuck) from STOP (gone). The window must span more than the
consumers' commit interval (``auto.commit.interval.ms``, 5 s by default) or a healthy consumer
with a standing backlog between two commits looks stopped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from itertools import pairwise

import msgspec

from .models import LAG_STATUSES, LagStatus, PartitionLag

__all__ = [
    "MIN_SAMPLES",
    "OffsetSample",
    "WatermarkHistory",
    "evaluate_window",
    "group_status",
    "lag_seconds",
    "worst_status",
]

#: Fewer samples than this cannot show a trend: the partition is OK unless its lag says otherwise.
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


def evaluate_window(
    samples: Sequence[OffsetSample], *, now: float, owned: bool | None = None
) -> tuple[LagStatus, str]:
    """Burrow's status of one partition over its window (oldest first) and the rule that fired.

    ``owned`` says whether a live member of the group is assigned the partition (None: unknown).
    """
    if not samples:
        return "OK", "no offsets sampled yet"
    last = samples[-1]
    if last.lag == 0:
        return "OK", "caught up: lag is 0"
    if len(samples) < MIN_SAMPLES:
        return "OK", (
            f"lag {last.lag}; one sample so far, the window needs {MIN_SAMPLES} to judge a trend"
        )
    zero = next((s for s in samples if s.lag == 0), None)
    if zero is not None:
        return "OK", f"lag was 0 within the window ({_secs(now - zero.timestamp)} ago)"
    for prev, cur in pairwise(samples):
        if cur.committed < prev.committed:
            return "REWIND", (
                f"committed offset went back from {prev.committed} to {cur.committed} "
                f"({_secs(now - cur.timestamp)} ago)"
            )
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
