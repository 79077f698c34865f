"""A spool read without taking it: what ``horizons spool status`` and ``inspect`` show,
safe while a publisher holds the spool (nothing is truncated or deleted)."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import msgspec

from ..errors import StorageError
from .records import Damage, SpoolRecord, scan

__all__ = ["SegmentSummary", "SpoolSummary", "summarize"]


class SegmentSummary(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    bytes: int
    records: int
    first_seq: int | None
    last_seq: int | None
    first_timestamp_ms: int | None
    damaged: list[tuple[int, int]]
    """(offset, length) of each damaged stretch (never delivered)."""
    torn_tail: bool


class SpoolSummary(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    records: int
    """Records at or after the cursor (not yet acknowledged)."""
    bytes: int
    acked_seq: int
    next_seq: int
    oldest_age_s: float | None
    damaged: int
    segments: list[SegmentSummary]


def _segment(path: Path, acked: int) -> tuple[SegmentSummary, int]:
    data = path.read_bytes()
    first = last = first_ts = None
    pending = count = 0
    damaged: list[tuple[int, int]] = []
    torn = False
    for item in scan(data):
        if isinstance(item, SpoolRecord):
            count += 1
            first = item.seq if first is None else first
            first_ts = item.timestamp_ms if first_ts is None else first_ts
            last = item.seq
            pending += item.seq >= acked
        elif isinstance(item, Damage):
            damaged.append((item.offset, item.length))
            torn = torn or item.torn_tail
    summary = SegmentSummary(
        name=path.name,
        bytes=len(data),
        records=count,
        first_seq=first,
        last_seq=last,
        first_timestamp_ms=first_ts,
        damaged=damaged,
        torn_tail=torn,
    )
    return summary, pending


def summarize(path: Path) -> SpoolSummary:
    """Every segment of the spool at ``path`` read and checked (records, damage)."""
    if not path.is_dir():
        raise StorageError(f"no spool at {path} (not a directory)")
    raw = (path / "cursor").read_bytes() if (path / "cursor").exists() else b""
    acked = struct.unpack("<Q", raw[:8])[0] if len(raw) >= 8 else 0
    segments, pending = [], 0
    for seg in sorted(path.glob("*.seg")):
        summary, waiting = _segment(seg, acked)
        segments.append(summary)
        pending += waiting
    oldest = next(
        (
            s.first_timestamp_ms
            for s in segments
            if s.first_timestamp_ms is not None and (s.last_seq or 0) >= acked
        ),
        None,
    )
    last = max((s.last_seq for s in segments if s.last_seq is not None), default=None)
    return SpoolSummary(
        path=str(path),
        records=pending,
        bytes=sum(s.bytes for s in segments),
        acked_seq=acked,
        next_seq=acked if last is None else max(acked, last + 1),
        oldest_age_s=(
            round(max(0.0, time.time() - oldest / 1000), 3) if oldest and pending else None
        ),
        damaged=sum(len(s.damaged) for s in segments),
        segments=segments,
    )
