"""Reading a spool back in seq order, across segments, while it is appended to."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from .records import SpoolRecord, scan

if TYPE_CHECKING:
    from .store import Spool

__all__ = ["SpoolReader"]

_CHUNK: Final = 1024 * 1024


class SpoolReader:
    """Reads a spool's records in seq order from a position, across segments, as they are
    appended; damaged stretches are reported once and skipped."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self._seq = 0
        self._path: Path | None = None
        self._offset = 0
        self._chunk = _CHUNK

    def seek(self, seq: int) -> None:
        self._seq, self._path, self._offset = seq, None, 0

    def read(self, limit: int) -> list[SpoolRecord]:
        """Up to ``limit`` records from the position on; fewer (or none) at the end."""
        out: list[SpoolRecord] = []
        while len(out) < limit:
            if self._path is None:
                found = self._spool._locate(self._seq)
                if found is None:
                    break
                self._path, self._offset = found[0], 0
            info = self._spool._size_of(self._path)
            if info is None:  # acknowledged or dropped while we read: find our seq again
                self._path = None
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
                self._path, self._offset = nxt[0], 0
                continue
            if not self._read_chunk(self._path, size, limit - len(out), out):
                break
        return out

    def _read_chunk(self, path: Path, size: int, limit: int, out: list[SpoolRecord]) -> bool:
        """Read on from the offset; False when nothing more can be read now."""
        start = self._offset
        want = min(size - start, self._chunk)
        try:
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read(want)
        except FileNotFoundError:
            return True  # gone: read() finds the position again
        reaches_end = start + len(data) >= size
        moved = False
        for item in scan(data):
            if isinstance(item, SpoolRecord):
                self._offset = start + item.end
                moved = True
                if item.seq >= self._seq:
                    out.append(item)
                    self._seq = item.seq + 1
                    if len(out) >= limit:
                        return True
            elif item.torn_tail and not reaches_end:
                break  # a record cut by the chunk's end: read it whole next time
            else:
                self._spool._report_damage(path, start + item.offset, item.length)
                self._offset = start + item.offset + item.length
                moved = True
        if not moved:
            self._chunk *= 2  # a record larger than the chunk
        return True
