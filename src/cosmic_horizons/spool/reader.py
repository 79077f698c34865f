"""Reading a spool back in seq order, across segments, while it is appended to.

Segments are read in large blocks (:data:`BLOCK` bytes, one ``pread``) kept between calls, and
records come out as plain tuples (:data:`.records.Drained`) through :func:`.records.read_run`;
only at bytes that are no valid record does the careful :func:`.records.scan` run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .records import Drained, SpoolRecord, read_run, scan

if TYPE_CHECKING:
    from .store import Spool

__all__ = ["BLOCK", "SpoolReader"]

#: Bytes read from a segment at once.
BLOCK: Final = 4 * 1024 * 1024


class SpoolReader:
    """Reads a spool's records in seq order from a position, across segments, as they are
    appended; damaged stretches are reported once and skipped."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self._seq = 0
        self._path: Path | None = None
        self._fd = -1
        self._offset = 0  # in the segment: where the next record starts
        self._buf = b""
        self._buf_at = 0  # the segment offset of _buf[0]
        self._block = BLOCK

    @property
    def position(self) -> int:
        """The seq the next read starts from."""
        return self._seq

    def seek(self, seq: int) -> None:
        self._seq = seq
        self._open(None)

    def _open(self, path: Path | None) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1
        self._path, self._offset, self._buf, self._buf_at = path, 0, b"", 0
        if path is not None:
            try:
                self._fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                self._path = None  # gone (acknowledged or dropped): read() finds its seq again

    def close(self) -> None:
        self._open(None)

    def read(self, limit: int) -> list[Drained]:
        """Up to ``limit`` records from the position on; fewer (or none) at the end."""
        out: list[Drained] = []
        while len(out) < limit:
            if self._path is None:
                found = self._spool._locate(self._seq)
                if found is None:
                    break
                self._open(found[0])
                if self._path is None:
                    continue
            assert self._path is not None
            info = self._spool._size_of(self._path)
            if info is None:  # acknowledged or dropped while we read: find our seq again
                self._open(None)
                self._seq = max(self._seq, self._spool.acked_seq)
                if self._spool._locate(self._seq) is None:
                    break
                continue
            size, active = info
            if self._offset >= size:
                if active:
                    break
                nxt = self._spool._after(self._path)
                if nxt is None:
                    break
                self._open(nxt[0])
                continue
            if not self._read_block(size, limit - len(out), out):
                break
        return out

    def _fill(self, size: int) -> bool:
        """Read the next block at the offset once ``_buf`` is used up; False when the file
        holds nothing beyond the offset."""
        if self._offset >= self._buf_at + len(self._buf):  # used up (or dropped: re-read)
            want = min(size - self._offset, self._block)
            self._buf = os.pread(self._fd, want, self._offset)
            self._buf_at = self._offset
        return self._buf_at + len(self._buf) > self._offset

    def _read_block(self, size: int, limit: int, out: list[Drained]) -> bool:
        """Read on from the offset; False when nothing more can be read now."""
        if not self._fill(size):
            return False
        buf, at = self._buf, self._buf_at
        got = len(out)
        pos = read_run(buf, self._offset - at, limit, out)
        if len(out) > got:
            self._offset = at + pos
            if out[got][0] < self._seq:  # before the position (a seek inside a segment)
                kept = [r for r in out[got:] if r[0] >= self._seq]
                del out[got:]
                out.extend(kept)
            if len(out) > got:
                self._seq = out[-1][0] + 1
            return True
        reaches_end = at + len(buf) >= size
        for item in scan(buf, pos):
            if isinstance(item, SpoolRecord):  # valid by the careful check: take it, go on
                self._offset = at + item.end
                if item.seq >= self._seq:
                    out.append((item.seq, item.timestamp_ms, item.key, item.value, item.headers))
                    self._seq = item.seq + 1
                return True
            if item.torn_tail and not reaches_end:
                if at == self._offset:  # a record larger than the block
                    self._block *= 2
                self._buf = b""  # cut by the block's end: read it whole next time
                return True
            assert self._path is not None
            self._spool._report_damage(self._path, at + item.offset, item.length)
            self._offset = at + item.offset + item.length
            return True
        self._buf = b""
        return True
