"""The archiver's counters, and the copies of them that ``stats()`` hands out."""

from __future__ import annotations

import threading
import time
from collections import deque

import msgspec

__all__ = ["ArchiverCounters", "ArchiverStats", "PartitionStats", "RowRate"]


class PartitionStats(msgspec.Struct, frozen=True, kw_only=True):
    partition: int
    last_archived_offset: int | None
    """Highest offset covered by a stored file (None: nothing archived yet)."""
    buffered: int
    """Offsets read but not yet in a file."""
    lag: int | None
    """High watermark minus the next offset to archive (None until known)."""
    lost_offsets: int = 0
    """Offsets deleted by retention before they were read (never archived)."""


class ArchiverStats(msgspec.Struct, frozen=True, kw_only=True):
    """A copy of the archiver's counters at one instant."""

    topic: str
    group: str
    storage: str
    rows: int
    """Packets written into files."""
    files: int
    bytes: int
    """Parquet bytes stored."""
    dead_letters: int
    lost_offsets: int
    """Offsets deleted by retention before they were read, so never archived."""
    consumed: int
    """Records read (including ones later dropped at a revocation and read again)."""
    rate: float
    """Rows archived per second over the last few seconds."""
    partitions: list[PartitionStats]
    lag: int | None
    """Sum of the assigned partitions' lag."""
    last_error: str | None
    started_at: float
    uptime_s: float


class RowRate:
    """Rows stored per second over the last ``window`` seconds."""

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self._started = time.monotonic()
        self._samples: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def add(self, rows: int) -> None:
        with self._lock:
            self._samples.append((time.monotonic(), rows))

    def rate(self) -> float:
        now = time.monotonic()
        with self._lock:
            while self._samples and self._samples[0][0] < now - self.window:
                self._samples.popleft()
            total = sum(rows for _, rows in self._samples)
        elapsed = min(self.window, now - self._started)
        return total / elapsed if elapsed > 0 else 0.0


class ArchiverCounters:
    """What the archiver did since it started (written by its thread, read by any)."""

    def __init__(self, topic: str, group: str, storage: str) -> None:
        self.topic = topic
        self.group = group
        self.storage = storage
        self.rows = 0
        self.files = 0
        self.bytes = 0
        self.dead_letters = 0
        self.lost_offsets = 0
        self.consumed = 0
        self.last_error: str | None = None
        self._rate = RowRate()
        self._started = time.time()
        self._started_mono = time.monotonic()

    def stored(self, rows: int, nbytes: int, dead_letters: int) -> None:
        """A file of ``rows`` packets (``nbytes`` bytes) was stored, and its dead letters sent."""
        self.rows += rows
        self.files += 1
        self.bytes += nbytes
        self.dead_letters += dead_letters
        self._rate.add(rows)

    def snapshot(self, partitions: list[PartitionStats]) -> ArchiverStats:
        lags = [p.lag for p in partitions if p.lag is not None]
        return ArchiverStats(
            topic=self.topic,
            group=self.group,
            storage=self.storage,
            rows=self.rows,
            files=self.files,
            bytes=self.bytes,
            dead_letters=self.dead_letters,
            lost_offsets=self.lost_offsets,
            consumed=self.consumed,
            rate=round(self._rate.rate(), 1),
            partitions=partitions,
            lag=sum(lags) if lags else None,
            last_error=self.last_error,
            started_at=self._started,
            uptime_s=round(time.monotonic() - self._started_mono, 3),
        )
