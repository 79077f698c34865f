"""A spool's segment files: their names, and finding them again when a spool is opened
(a torn final record cut off, damage reported, segments behind the cursor deleted)."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from .records import SpoolRecord, scan

__all__ = ["SUFFIX", "Recovered", "Segment", "new_segment", "recover", "unlink"]

log = logging.getLogger("cosmic_horizons.spool.store")

SUFFIX: Final = ".seg"


@dataclass(slots=True)
class Segment:
    first_seq: int
    path: Path
    size: int
    first_ts_ms: int | None = None
    created: float = field(default_factory=time.time)


@dataclass(slots=True)
class Recovered:
    """What :func:`recover` found: the segments (at least one), the next seq, the first
    seq not acknowledged, and how many damaged stretches."""

    segments: list[Segment]
    next_seq: int
    low: int
    damaged: set[tuple[str, int]]
    """(segment name, offset) of each damaged stretch found (reported once, here)."""


def new_segment(directory: Path, first_seq: int) -> Segment:
    path = directory / f"{first_seq:020d}{SUFFIX}"
    path.touch()
    return Segment(first_seq, path, 0, None)


def unlink(seg: Segment) -> None:
    with contextlib.suppress(FileNotFoundError):
        seg.path.unlink()


def recover(directory: Path, low: int) -> Recovered:
    """The segments of ``directory``, the last one checked record by record."""
    segments: list[Segment] = []
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            first = int(path.name.removesuffix(SUFFIX))
        except ValueError:
            log.warning("spool %s: ignoring %s (not a segment name)", directory, path.name)
            continue
        segments.append(Segment(first, path, path.stat().st_size, None))
    if not segments:
        return Recovered([new_segment(directory, low)], low, low, set())
    last = segments[-1]
    data = last.path.read_bytes()
    next_seq, good_end = last.first_seq, 0
    damaged: set[tuple[str, int]] = set()
    for item in scan(data):
        if isinstance(item, SpoolRecord):
            next_seq, good_end = item.seq + 1, item.end
            if last.first_ts_ms is None:
                last.first_ts_ms = item.timestamp_ms
            continue
        damaged.add((last.path.name, item.offset))
        log.warning(
            "spool %s: %s in %s at offset %d (%d bytes, %s): skipped, %s",
            directory,
            "torn final record" if item.torn_tail else "damaged record",
            last.path.name,
            item.offset,
            item.length,
            "a write cut short" if item.torn_tail else "checksum mismatch",
            "cut off; every record before it is kept" if item.torn_tail else "never delivered",
        )
    if good_end < len(data):
        _truncate(last.path, good_end)
        last.size = good_end
    for seg in segments[:-1]:
        seg.first_ts_ms = _first_ts(seg)
    # Segments wholly behind the cursor were acknowledged before a crash.
    while len(segments) > 1 and segments[1].first_seq <= low:
        unlink(segments.pop(0))
    low = min(max(low, segments[0].first_seq), next_seq)
    return Recovered(segments, next_seq, low, damaged)


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)


def _first_ts(seg: Segment) -> int | None:
    with open(seg.path, "rb") as f:
        head = f.read(64 * 1024)
    for item in scan(head):
        if isinstance(item, SpoolRecord):
            return item.timestamp_ms
    return None
