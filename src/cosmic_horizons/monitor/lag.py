"""One partition's lag: its offset sample into the group's sliding window, judged."""

from __future__ import annotations

from collections import deque

from .burrow import OffsetSample, WatermarkHistory, evaluate_window, lag_seconds
from .models import LagStatus, PartitionLag

__all__ = ["partition_lag"]

_TP = tuple[str, int]


def partition_lag(
    group: str,
    tp: _TP,
    committed: int | None,
    high_watermark: int | None,
    error: str | None,
    owned: bool | None,
    now: float,
    *,
    windows: dict[tuple[str, str, int], deque[OffsetSample]],
    size: int,
    min_sample_interval: float,
    history: WatermarkHistory | None,
) -> PartitionLag:
    """One partition's lag row: an error, not committed yet, or the sample judged by Burrow's
    rules over the group's window of ``size`` samples in ``windows`` (which it enters unless
    the last one is younger than ``min_sample_interval`` seconds), its age from the log end's
    ``history``."""
    topic, partition = tp
    if error is not None or high_watermark is None:
        rule = error or "high watermark unavailable"
        return _unjudged(tp, high_watermark, committed, "ERR", rule)
    if committed is None:
        return _unjudged(tp, high_watermark, None, "OK", "assigned, no offset committed yet")
    window = windows.setdefault((group, topic, partition), deque(maxlen=size))
    sample = OffsetSample(now, committed, high_watermark)
    if not window or now - window[-1].timestamp >= min_sample_interval:
        window.append(sample)
        judged = list(window)
    else:
        # Asked again too soon: judge the fresh sample without letting it crowd the window.
        judged = [*list(window)[1 - size :], sample]
    status, rule = evaluate_window(judged, now=now, owned=owned)
    if committed > high_watermark:
        rule += (
            f"; committed offset {committed} is past the reported log end "
            f"{high_watermark}, lag shown as 0"
        )
    seconds = (
        0.0
        if sample.lag == 0
        else (lag_seconds(list(history.points), committed, now=now) if history else None)
    )
    return PartitionLag(
        topic=topic,
        partition=partition,
        high_watermark=high_watermark,
        committed=committed,
        lag=sample.lag,
        lag_seconds=None if seconds is None else round(seconds, 3),
        status=status,
        rule=rule,
    )


def _unjudged(
    tp: _TP, high_watermark: int | None, committed: int | None, status: LagStatus, rule: str
) -> PartitionLag:
    """A row with no lag figure: an error, or nothing committed yet."""
    return PartitionLag(
        topic=tp[0],
        partition=tp[1],
        high_watermark=high_watermark,
        committed=committed,
        lag=None,
        lag_seconds=None,
        status=status,
        rule=rule,
    )
