"""One partition's open range, its fences and its losses: when records roll into files.

No Kafka here: :class:`PartitionRanges` is told what was read and answers, in order, what
the consumer loop must do about it (:data:`Event`):

* :class:`ClosedRange`: a range is complete; store it as one file, then commit ``end + 1``.
* :class:`PassedFence`: the reading reached a range that is archived already; seek past it
  and, once the ranges closed before it are stored, commit ``end + 1``.
* :class:`Lost`: offsets were deleted by retention before they were read.

Roll rules, record by record (all on records, never on wall-clock time): a record at or
after the range's deadline (``max_record_span_s`` after its first record, or the next UTC
midnight, whichever is first), or one that would take it over ``max_bytes``, closes the
range before it; a range closes after the record that brings it to ``max_records`` offsets
or ``max_bytes`` bytes. A single record larger than ``max_bytes`` gets a file of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from ..errors import ConfigError
from .gaps import find_loss
from .records import Int64s, RecordRange, total_size
from .stats import PartitionStats

__all__ = [
    "ClosedRange",
    "Event",
    "Lost",
    "PartitionRanges",
    "PassedFence",
    "RollPolicy",
]

log = logging.getLogger(__name__)

_DAY_MS: Final = 86_400_000
_NO_FENCE: Final = 1 << 62


class RollPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """When an open range is closed into a file (all limits are on records, never on time)."""

    max_records: int = 10_000
    """Offsets per file (dead letters included)."""
    max_bytes: int = 64 * 1024 * 1024
    """Kafka key + value bytes per file."""
    max_record_span_s: float = 3600.0
    """Record-time span of one file; files also never cross a UTC midnight."""

    def __post_init__(self) -> None:
        if self.max_records < 1:
            raise ConfigError(f"max records per file must be at least 1, got {self.max_records}")
        if self.max_bytes < 1:
            raise ConfigError(f"max bytes per file must be at least 1, got {self.max_bytes}")
        if not self.max_record_span_s > 0:
            raise ConfigError(f"file span must be positive, got {self.max_record_span_s} s")


@dataclass(frozen=True, slots=True)
class ClosedRange:
    """Offsets ``start..end`` as one file: the records read for them, in offset order."""

    records: RecordRange
    start: int
    end: int
    """The range's last offset (at or after its last record's: markers may follow it)."""
    first_ts: int
    """Kafka timestamp of the first record (the file's date)."""
    sources: Sequence[Any]
    """What each record was read as (the consumer's messages), for dead letters."""


@dataclass(frozen=True, slots=True)
class PassedFence:
    """Offsets ``start..end`` are archived already: reading goes on at ``end + 1``."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Lost:
    """Offsets ``first..last`` were deleted unread; ``count`` of them were not archived."""

    first: int
    last: int
    count: int


Event = ClosedRange | PassedFence | Lost


@dataclass(slots=True)
class _OpenRange:
    """Records read since the last closed range."""

    start: int
    first_ts: int
    deadline_ts: int
    """A record at or after this time closes the range before it (span or UTC midnight)."""
    sources: list[Any] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)
    nbytes: int = 0
    last: int = -1

    @property
    def count(self) -> int:
        return len(self.offsets)


class PartitionRanges:
    """The archiving state of one assigned partition."""

    def __init__(
        self,
        topic: str,
        partition: int,
        roll: RollPolicy,
        next_offset: int,
        *,
        fences: Iterable[tuple[int, int]] = (),
        last_archived: int | None = None,
        topic_id: str | None = None,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.roll = roll
        self.topic_id = topic_id
        self.next_offset = next_offset
        """The next offset to read."""
        self.fences: list[tuple[int, int]] = sorted(fences)
        """Archived ranges ahead of ``next_offset``, sorted: buffering stops before them."""
        self.last_archived = last_archived
        """Highest offset covered by a stored file (None: none known)."""
        self.open: _OpenRange | None = None
        self.closing = 0
        """Offsets of closed ranges not yet stored."""
        self.at_end = False
        self.lag: int | None = None
        """Set by the consumer loop from the partition's high watermark."""
        self.lost = 0
        self.consumed = 0

    @property
    def fence_start(self) -> int:
        return self.fences[0][0] if self.fences else _NO_FENCE

    # -- what was read -----------------------------------------------------------------

    def fence(self, archived: Iterable[tuple[int, int]]) -> None:
        """Archived ranges: the reading moves past those covering ``next_offset``, and those
        further ahead become fences (the archive is the source of truth)."""
        ranges = sorted(archived)
        position = self.next_offset
        for s, e in ranges:
            if s <= position <= e:
                position = e + 1
        below = [e for _s, e in ranges if e < position]
        if below:
            self.last_archived = max(below)
        self.next_offset = position
        self.fences = [r for r in ranges if r[0] >= position]

    def jumped(self, offsets: Sequence[int] | Int64s) -> bool:
        """Do these offsets (increasing) skip some: markers, compaction, or a loss?"""
        return offsets[0] != self.next_offset or offsets[-1] - offsets[0] + 1 != len(offsets)

    def add(
        self, records: RecordRange, sources: Sequence[Any], log_start: int | None = None
    ) -> list[Event]:
        """Records read from this partition (increasing offsets), and what they close.

        ``log_start``: the partition's log start, when the offsets :meth:`jumped`; a gap
        below it is a loss. Records before ``next_offset`` (fetched before a seek) are
        ignored.
        """
        events: list[Event] = []
        offsets = _as_list(records.offsets)
        batch = (
            offsets,
            _as_list(records.timestamps),
            _as_list(records.keys),
            _as_list(records.values),
        )
        lo = 0
        if log_start is not None:
            while (loss := find_loss(self.next_offset, offsets[lo:], log_start)) is not None:
                if loss.index:
                    self._add(batch, sources, lo, lo + loss.index, events)
                self._lose(loss.first, loss.last, events)
                lo += loss.index
        if lo < len(offsets):
            self._add(batch, sources, lo, len(offsets), events)
        return events

    def lose(self, first: int, last: int) -> list[Event]:
        """Offsets ``first..last`` were deleted unread: close what was read, count, go on."""
        events: list[Event] = []
        self._lose(first, last, events)
        return events

    def reached_end(self, *, flush: bool) -> list[Event]:
        """The end of the partition was reached (with ``flush``: close the open range)."""
        self.at_end = True
        events: list[Event] = []
        if flush and self.open is not None:
            self._close(self.open.last, events)
        return events

    def stored(self, closed: ClosedRange) -> None:
        """A closed range's file was stored."""
        self.closing -= len(closed.records)
        self.last_archived = max(self.last_archived or -1, closed.end)

    def drop_open(self) -> _OpenRange | None:
        """Forget the open range (revocation): the next owner reads it again."""
        rng, self.open = self.open, None
        return rng

    def stats(self) -> PartitionStats:
        return PartitionStats(
            partition=self.partition,
            last_archived_offset=self.last_archived,
            buffered=(self.open.count if self.open else 0) + self.closing,
            lag=self.lag,
            lost_offsets=self.lost,
        )

    # -- the rules ---------------------------------------------------------------------

    def _add(
        self, batch: _Batch, sources: Sequence[Any], lo: int, hi: int, events: list[Event]
    ) -> None:
        offsets = batch[0]
        if offsets[lo] < self.next_offset or offsets[hi - 1] >= self.fence_start:
            for i in range(lo, hi):  # one by one: stale records, or a fence ahead
                offset = offsets[i]
                if offset < self.next_offset:
                    continue  # fetched before a seek
                if offset >= self.fence_start and self._at_fence(offset, events):
                    continue
                self._append(batch, sources, i, i + 1, events)
            return
        self._append(batch, sources, lo, hi, events)

    def _at_fence(self, offset: int, events: list[Event]) -> bool:
        """``offset`` reached an archived range: close before it, skip it. True: drop it."""
        while self.fences and offset >= self.fences[0][0]:
            start, end = self.fences[0]
            if self.open is not None:
                self._close(min(start - 1, offset - 1), events)
            if offset <= end:
                self.fences.pop(0)
                self.next_offset = end + 1
                self.last_archived = max(self.last_archived or -1, end)
                log.info(
                    "partition %d: offsets %d-%d are already archived; skipping them",
                    self.partition,
                    start,
                    end,
                )
                events.append(PassedFence(start, end))
                return True
            self.fences.pop(0)
        return False

    def _lose(self, first: int, last: int, events: list[Event]) -> None:
        first = max(first, self.next_offset)
        if first > last:
            return
        if self.open is not None:  # at the last offset read: no file names the lost ones
            self._close(self.open.last, events)
        # archived ranges (fences) inside the stretch are not lost, and are now passed
        archived = 0
        for start, end in self.fences:
            archived += max(0, min(end, last) - max(start, first) + 1)
            if end <= last:
                self.last_archived = max(self.last_archived or -1, end)
        self.fences = [f for f in self.fences if f[1] > last]
        lost = last - first + 1 - archived
        self.next_offset = last + 1
        if lost <= 0:
            return
        self.lost += lost
        log.warning(
            "%s partition %d: offsets %d-%d (%d not archived) were deleted by the topic's "
            "retention before they were archived; they are lost, archiving goes on from "
            "offset %d",
            self.topic,
            self.partition,
            first,
            last,
            lost,
            last + 1,
        )
        events.append(Lost(first, last, lost))

    def _append(
        self, batch: _Batch, sources: Sequence[Any], lo: int, hi: int, events: list[Event]
    ) -> None:
        """Records ``lo..hi-1`` of the batch onto the open range, closing where the rules say."""
        offsets, stamps, keys, values = batch
        roll = self.roll
        n = hi - lo
        self.at_end = False
        self.next_offset = offsets[hi - 1] + 1
        self.consumed += n
        sizes: list[int] | None = None
        batch_bytes = total_size(keys[lo:hi], values[lo:hi])
        pos = lo
        while pos < hi:
            rng = self.open
            fresh = rng is None
            if rng is None:
                ts = stamps[pos]
                rng = self.open = _OpenRange(
                    start=offsets[pos],
                    first_ts=ts,
                    deadline_ts=min(
                        ts + int(roll.max_record_span_s * 1000), (ts // _DAY_MS + 1) * _DAY_MS
                    ),
                )
            limit = min(hi, pos + roll.max_records - rng.count)
            cut, close_end = limit, -1
            if max(stamps[pos:limit]) >= rng.deadline_ts:
                k = next(i for i in range(pos, limit) if stamps[i] >= rng.deadline_ts)
                cut, close_end = k, offsets[k] - 1
            if sizes is None and rng.nbytes + batch_bytes >= roll.max_bytes:
                sizes = [  # sizes[j - lo]: record j's bytes
                    (len(k) if k else 0) + (len(v) if v else 0)
                    for k, v in zip(keys[lo:hi], values[lo:hi], strict=True)
                ]
            if sizes is not None:
                total = rng.nbytes
                for j in range(pos, cut):
                    total += sizes[j - lo]
                    if total > roll.max_bytes and not (j == pos and fresh):
                        cut, close_end = j, offsets[j] - 1  # would go over: close before j
                        break
                    if total >= roll.max_bytes:
                        cut, close_end = j + 1, offsets[j]  # reached: close after j
                        break
            if cut > pos:
                rng.sources.extend(sources[pos:cut])
                rng.offsets.extend(offsets[pos:cut])
                rng.timestamps.extend(stamps[pos:cut])
                rng.keys.extend(keys[pos:cut])
                rng.values.extend(values[pos:cut])
                if sizes is not None:
                    rng.nbytes += sum(sizes[pos - lo : cut - lo])
                rng.last = offsets[cut - 1]
            if close_end < 0 and rng.count >= roll.max_records:
                close_end = rng.last
            if close_end >= 0:
                self._close(close_end, events)
            pos = cut
        if sizes is None and self.open is not None:
            # bytes were not tracked one by one: add this batch's share to the open range
            tail = hi - min(n, self.open.count)
            self.open.nbytes += total_size(keys[tail:hi], values[tail:hi])

    def _close(self, end: int, events: list[Event]) -> None:
        """Close the open range at ``end`` (an empty one is dropped)."""
        rng = self.open
        if rng is None:
            return
        self.open = None
        if end < rng.start:
            return
        self.closing += rng.count
        records = RecordRange(
            self.topic,
            self.partition,
            rng.offsets,
            rng.timestamps,
            rng.keys,
            rng.values,
            self.topic_id,
        )
        events.append(ClosedRange(records, rng.start, end, rng.first_ts, rng.sources))


_Batch = tuple[list[int], list[int], list[bytes | None], list[bytes | None]]


def _as_list(items: Any) -> list[Any]:
    return items if isinstance(items, list) else list(items)
