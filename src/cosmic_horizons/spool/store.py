"""The spool: append-only segment files of checksummed records, and a cursor of what is acked.

Layout of a spool directory::

    00000000000000000000.seg   records from seq 0 on (the name is the first seq)
    00000000000000052110.seg   the next segment, ...
    cursor                     u64: the first seq not yet acknowledged (rewritten in place)
    lock                       held (flock) by the one process using the spool

Records are appended with one ``write`` per batch (unbuffered: a SIGKILL loses nothing a
call returned for; power loss loses what was not yet fsynced, see :class:`SpoolSettings`).
A record leaves the spool when it is acknowledged: acknowledgements come in ranges
(:class:`.acks.AckedRanges`), the cursor moves past every acknowledged prefix and is written
to disk once it has moved :data:`CURSOR_EVERY` records or :data:`CURSOR_INTERVAL_S` later (so
a crash re-sends at most that many acknowledged records), and a segment whose records are all
behind it is deleted.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from ..errors import StorageError
from .acks import AckedRanges
from .reader import SpoolReader
from .records import Drained, Headers, encode_batch
from .segments import new_segment, recover, unlink
from .settings import SpoolSettings, SpoolStatus

__all__ = ["CURSOR_EVERY", "CURSOR_INTERVAL_S", "Spool"]

log = logging.getLogger(__name__)

_CURSOR: Final = struct.Struct("<Q")
#: The cursor file is rewritten once the acknowledged prefix has moved this many records...
CURSOR_EVERY: Final = 1024
#: ...or this long after it last was (checked on every move and by :meth:`Spool.tick`).
CURSOR_INTERVAL_S: Final = 0.05


class Spool:
    """An open spool directory (one process at a time); thread-safe."""

    def __init__(self, settings: SpoolSettings) -> None:
        self.settings = settings
        self.path = settings.path
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"spool {self.path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise StorageError(
                f"spool {self.path} is in use by another process (one publisher per spool)"
            ) from None
        self._lock = threading.Lock()
        self._append_lock = threading.Lock()  # appends are whole: their seqs are contiguous
        self._room = threading.Condition(self._lock)
        self.dropped = 0
        self._since_fsync = 0
        self._last_fsync = time.monotonic()
        self._cursor_fd = os.open(self.path / "cursor", os.O_RDWR | os.O_CREAT, 0o644)
        raw = os.pread(self._cursor_fd, _CURSOR.size, 0)
        found = recover(self.path, _CURSOR.unpack(raw)[0] if len(raw) == _CURSOR.size else 0)
        self._segments = found.segments
        self._next = found.next_seq
        self._damage_seen = found.damaged  # reported by recover(): not again by the reader
        self.corrupt = len(found.damaged)
        self._acks = AckedRanges(found.low)
        self._written_low = found.low
        self._written_at = time.monotonic()
        self.acked_total = 0
        """Records acknowledged by this process (progress, for the stall watch and rates)."""
        self._fd = os.open(self._segments[-1].path, os.O_WRONLY | os.O_APPEND)
        self._closed = False

    # -- appending -------------------------------------------------------------------------

    def append(
        self,
        records: Sequence[tuple[bytes, bytes, int, Headers | None]],
        interrupt: threading.Event | None = None,
    ) -> tuple[int, int]:
        """Append ``(key, value, timestamp_ms, headers)`` records in order: (first seq, count).

        When full, ``block`` waits for room (until ``interrupt`` is set: fewer are appended)
        and ``drop-oldest`` deletes the oldest segment, counted and logged.
        """
        with self._append_lock:
            with self._lock:
                first = self._next
            encoded = encode_batch(first, records)
            with self._lock:
                return first, self._append_locked(encoded, records, interrupt)

    def _append_locked(
        self,
        encoded: list[bytes],
        records: Sequence[tuple[bytes, bytes, int, Headers | None]],
        interrupt: threading.Event | None,
    ) -> int:
        done = 0
        while done < len(encoded):
            if self._closed:
                raise StorageError(f"spool {self.path} is closed")
            room = self.settings.max_bytes - self.total_bytes
            if self._segments[-1].size >= self.settings.segment_limit:
                self._roll()
            seg_room = self.settings.segment_limit - self._segments[-1].size
            if not done:  # the usual case: the whole batch fits
                size = sum(map(len, encoded))
                if size <= room and size <= seg_room:
                    self._write(encoded, size, records[0][2])
                    return len(encoded)
            end, size = done, 0
            while end < len(encoded) and size + len(encoded[end]) <= room:
                if size + len(encoded[end]) > seg_room and end > done:
                    break
                size += len(encoded[end])
                end += 1
            if end > done:
                self._write(encoded[done:end], size, records[done][2])
                done = end
                continue
            if self.settings.policy == "drop-oldest" and self._drop_oldest():
                continue
            if interrupt is not None and interrupt.is_set():
                break
            self._room.wait(0.1)
        return done

    def _write(self, batch: list[bytes], size: int, first_ts: int) -> None:
        seg = self._segments[-1]
        if seg.first_ts_ms is None:
            seg.first_ts_ms = first_ts
        data = b"".join(batch)
        try:
            written = os.write(self._fd, data)
            while written < len(data):
                written += os.write(self._fd, data[written:])
        except OSError as exc:
            raise StorageError(f"spool {self.path}: {exc.strerror or exc}") from exc
        seg.size += len(data)
        self._next += len(batch)
        self._since_fsync += len(batch)
        self._maybe_fsync()

    def _roll(self) -> None:
        """Close the segment being written and begin the next."""
        os.fsync(self._fd)
        os.close(self._fd)
        seg = new_segment(self.path, self._next)
        self._segments.append(seg)
        self._fd = os.open(seg.path, os.O_WRONLY | os.O_APPEND)

    def _maybe_fsync(self) -> None:
        s = self.settings
        now = time.monotonic()
        if (s.fsync_every and self._since_fsync >= s.fsync_every) or (
            s.fsync_interval_s and now - self._last_fsync >= s.fsync_interval_s
        ):
            os.fsync(self._fd)
            self._since_fsync = 0
            self._last_fsync = now

    def _drop_oldest(self) -> bool:
        """Delete the oldest segment to make room; False when only the one being written is left."""
        if len(self._segments) == 1:
            if self._segments[0].size == 0:
                return False
            self._roll()
        oldest = self._segments.pop(0)
        end = self._segments[0].first_seq
        begin = max(oldest.first_seq, self._acks.low)
        lost = max(0, end - begin - self._acks.count_in(begin, end))
        unlink(oldest)
        self.dropped += lost
        log.warning(
            "SPOOL FULL (%d bytes, --spool-max %d, policy drop-oldest): dropped %d unsent "
            "packets (seq %d..%d, %s); %d dropped so far",
            self.total_bytes + oldest.size,
            self.settings.max_bytes,
            lost,
            oldest.first_seq,
            end - 1,
            oldest.path.name,
            self.dropped,
        )
        if self._acks.low < end:
            self._acks.move_low(end)
            self._low_moved()
        return True

    # -- acknowledging ---------------------------------------------------------------------

    def ack(self, seq: int) -> None:
        """Record ``seq`` as delivered (see :meth:`ack_range`)."""
        self.ack_range(seq, seq + 1)

    def ack_range(self, start: int, end: int, delivered: int | None = None) -> None:
        """Record ``[start, end)`` as delivered (or never deliverable); ``delivered``: how many
        of them the broker took (the progress count), all by default."""
        with self._lock:
            self.acked_total += end - start if delivered is None else delivered
            if self._acks.add(start, end):
                self._low_moved()

    def _low_moved(self) -> None:
        low = self._acks.low
        now = time.monotonic()
        if low - self._written_low >= CURSOR_EVERY or now - self._written_at >= CURSOR_INTERVAL_S:
            self._write_cursor(low, now)
        segs = self._segments
        if len(segs) > 1 and segs[1].first_seq <= low:
            while len(segs) > 1 and segs[1].first_seq <= low:
                unlink(segs.pop(0))
            self._room.notify_all()

    def _write_cursor(self, low: int, now: float) -> None:
        if not self._closed:
            os.pwrite(self._cursor_fd, _CURSOR.pack(low), 0)
        self._written_low, self._written_at = low, now

    def tick(self) -> None:
        """Write the cursor if it moved and was not written since (called a few times a
        second, so an idle spool's cursor is current within :data:`CURSOR_INTERVAL_S`)."""
        with self._lock:
            if self._acks.low != self._written_low:
                self._write_cursor(self._acks.low, time.monotonic())

    def not_done(self, records: list[Drained]) -> list[Drained]:
        """``records`` less those acknowledged already (after a rewind) or dropped."""
        with self._lock:
            acks = self._acks
            if records[0][0] >= acks.low and not acks.above:
                return records
            return [r for r in records if r[0] not in acks]

    def is_done(self, seq: int) -> bool:
        """``seq`` needs no sending: acknowledged already, or dropped."""
        return seq in self._acks

    @property
    def acked_seq(self) -> int:
        return self._acks.low

    @property
    def next_seq(self) -> int:
        return self._next

    @property
    def records(self) -> int:
        return self._next - self._acks.low - self._acks.above

    @property
    def total_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    # -- reading ---------------------------------------------------------------------------

    def reader(self) -> SpoolReader:
        """A sequential reader of this spool's records (see :class:`SpoolReader`)."""
        return SpoolReader(self)

    def _locate(self, seq: int) -> tuple[Path, int, bool] | None:
        """The segment holding ``seq`` (or the first one after it): path, size, active."""
        with self._lock:
            segs = self._segments
            for i, seg in enumerate(segs):
                last = i == len(segs) - 1
                if last or segs[i + 1].first_seq > seq:
                    return seg.path, seg.size, last
        return None

    def _after(self, path: Path) -> tuple[Path, int, bool] | None:
        """The segment after ``path`` (None when ``path`` is the one being written)."""
        with self._lock:
            for i, seg in enumerate(self._segments[:-1]):
                if seg.path == path:
                    nxt = self._segments[i + 1]
                    return nxt.path, nxt.size, i + 1 == len(self._segments) - 1
        return None

    def _size_of(self, path: Path) -> tuple[int, bool] | None:
        with self._lock:
            for i, seg in enumerate(self._segments):
                if seg.path == path:
                    return seg.size, i == len(self._segments) - 1
        return None

    def _report_damage(self, path: Path, offset: int, length: int) -> None:
        key = (path.name, offset)
        if key in self._damage_seen:
            return
        self._damage_seen.add(key)
        self.corrupt += 1
        log.warning(
            "spool %s: damaged record in %s at offset %d (%d bytes, checksum mismatch): "
            "skipped, never delivered; the records around it are",
            self.path,
            path.name,
            offset,
            length,
        )

    # -- status and closing ----------------------------------------------------------------

    def status(self) -> SpoolStatus:
        with self._lock:
            ts = next((s.first_ts_ms for s in self._segments if s.first_ts_ms is not None), None)
            records = self.records
            return SpoolStatus(
                path=str(self.path),
                records=records,
                bytes=self.total_bytes,
                segments=len(self._segments),
                oldest_age_s=(
                    round(max(0.0, time.time() - ts / 1000), 3)
                    if ts is not None and records
                    else None
                ),
                next_seq=self._next,
                acked_seq=self._acks.low,
                dropped=self.dropped,
                corrupt=self.corrupt,
                max_bytes=self.settings.max_bytes,
                policy=self.settings.policy,
            )

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._room.notify_all()
            os.fsync(self._fd)
            os.close(self._fd)
            os.pwrite(self._cursor_fd, _CURSOR.pack(self._acks.low), 0)
            os.fsync(self._cursor_fd)
            os.close(self._cursor_fd)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
