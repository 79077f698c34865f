"""Telling lost offsets from harmless offset gaps.

Consumed offsets of a partition are not always consecutive: transaction markers, aborted
records and compaction leave gaps that hold nothing to archive. Offsets are lost when
retention deleted them before the archiver read them; the consumer then resets to the
partition's new log start and the offsets jump. So a gap is a loss where it lies below
the partition's log start: those offsets are gone from the log and no record was read for
them. (A transaction marker that retention deleted in such a gap cannot be told from a
record; it is counted too, so the count is an upper bound.)
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
    """The first stretch of unread offsets below ``log_start``, from ``expected`` (the
    partition's next offset to read) through the consumed ``offsets`` (increasing).

    A gap between two read offsets ``a`` and ``b`` (or between ``expected`` and the first
    offset read) is lost for ``a + 1 .. min(b, log_start) - 1``; gaps above the log start
    are markers or compaction. Offsets below ``expected`` (fetched before a seek) are
    ignored. None: no loss (also when the log start is unknown).
    """
    if log_start is None or log_start <= expected or not offsets:
        return None
    index = bisect_left(offsets, expected)  # skip records fetched before a seek
    before = expected - 1
    while index < len(offsets) and before + 1 < log_start:
        offset = offsets[index]
        if offset > before + 1:
            return Loss(index=index, first=before + 1, last=min(offset, log_start) - 1)
        before = offset
        index += 1
    return None
