"""Telling lost offsets from harmless offset gaps.

Consumed offsets of a partition are not always consecutive: transaction markers, aborted
records and compaction leave gaps that hold nothing to archive. Offsets are lost only
when retention deleted them before the archiver read them; the consumer then resets to
the partition's new log start. So a gap is a loss exactly when the log start lies beyond
the next offset the archiver expected.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Loss", "find_loss"]


@dataclass(frozen=True, slots=True)
class Loss:
    """Offsets ``first..last`` (inclusive) were deleted before they were read."""

    index: int
    """Position in the consumed offsets of the first record read after the loss."""
    first: int
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1


def find_loss(expected: int, offsets: Sequence[int], log_start: int | None) -> Loss | None:
    """The deleted offsets between ``expected`` (the partition's next offset to read) and
    the consumed ``offsets`` (increasing), given the partition's ``log_start``.

    Records read below the log start were fetched before the deletion; the loss is the
    stretch from the last of them (or ``expected``) up to the log start, and only when the
    batch reaches the log start. None: no loss (also when the log start is unknown).
    """
    if log_start is None or log_start <= expected or not offsets:
        return None
    index = bisect_left(offsets, log_start)
    if index == len(offsets):
        return None  # every record is below the log start: the jump, if any, is still ahead
    before = offsets[index - 1] + 1 if index else expected
    first = max(before, expected)
    if first >= log_start:
        return None
    return Loss(index=index, first=first, last=log_start - 1)
