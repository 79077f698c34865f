"""Which spooled seqs are acknowledged: a prefix (``low``) and sorted ranges above it.

Acknowledgements arrive in ranges (one per publish call or drained batch, see
:mod:`cosmic_horizons.publisher.blocks`), mostly in order, so the ranges above the prefix
stay few and adding one costs a bisect, not a Python step per record.
"""

from __future__ import annotations

from bisect import bisect_right

__all__ = ["AckedRanges"]


class AckedRanges:
    """Acknowledged seqs: every seq below :attr:`low`, and disjoint ``[start, end)`` above."""

    __slots__ = ("_ends", "_starts", "above", "low")

    def __init__(self, low: int) -> None:
        self.low = low
        self._starts: list[int] = []
        self._ends: list[int] = []
        self.above = 0
        """How many seqs above ``low`` are acknowledged."""

    def add(self, start: int, end: int) -> bool:
        """Acknowledge ``[start, end)``; True when :attr:`low` moved."""
        start = max(start, self.low)
        if start >= end:
            return False
        if start == self.low and (not self._starts or end < self._starts[0]):
            self.low = end  # the usual case: the next range in order
            return True
        self._insert(start, end)
        return self._merge_low()

    def _insert(self, start: int, end: int) -> None:
        starts, ends = self._starts, self._ends
        i = bisect_right(starts, start)
        if i and ends[i - 1] >= start:  # overlaps or touches the range before
            i -= 1
            start = starts[i]
            end = max(end, ends[i])
            self.above -= ends[i] - starts[i]
            del starts[i], ends[i]
        while i < len(starts) and starts[i] <= end:  # swallow the ranges it reaches
            end = max(end, ends[i])
            self.above -= ends[i] - starts[i]
            del starts[i], ends[i]
        starts.insert(i, start)
        ends.insert(i, end)
        self.above += end - start

    def _merge_low(self) -> bool:
        starts, ends = self._starts, self._ends
        moved = False
        while starts and starts[0] <= self.low:
            self.above -= ends[0] - starts[0]
            self.low = max(self.low, ends[0])
            del starts[0], ends[0]
            moved = True
        return moved

    def __contains__(self, seq: int) -> bool:
        if seq < self.low:
            return True
        i = bisect_right(self._starts, seq) - 1
        return i >= 0 and seq < self._ends[i]

    def count_in(self, start: int, end: int) -> int:
        """How many of ``[start, end)`` are acknowledged."""
        done = max(0, min(end, self.low) - start)
        for s, e in zip(self._starts, self._ends, strict=True):
            lo, hi = max(s, start, self.low), min(e, end)
            done += max(0, hi - lo)
        return done

    def move_low(self, low: int) -> None:
        """Everything below ``low`` is gone (dropped): forget the ranges there."""
        if low <= self.low:
            return
        self.low = low
        while self._starts and self._starts[0] < low:
            s, e = self._starts[0], self._ends[0]
            if e <= low:
                self.above -= e - s
                del self._starts[0], self._ends[0]
            else:
                self.above -= low - s
                self._starts[0] = low
        self._merge_low()
