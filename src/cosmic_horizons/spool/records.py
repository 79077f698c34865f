"""The spool's on-disk record: length-prefixed, checksummed, found again after damage.

One record::

    magic  b"CHSP"           4 bytes
    length                   u32  bytes of the body
    crc32                    u32  zlib.crc32 of the body
    body: seq u64 | timestamp_ms i64 | key length u16 | headers length u32 | key | headers | value

``headers`` is empty for the publisher's default packet headers, else msgpack of
``[[name, value], ...]``. A record whose checksum does not match is never returned: a torn
final record (a crash inside a write) is cut off, a damaged one in the middle is skipped and
the scan resumes at the next magic that starts a valid record.
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import msgspec

__all__ = ["HEAD", "MAGIC", "Damage", "SpoolRecord", "encode_record", "scan"]

log = logging.getLogger(__name__)

MAGIC: Final = b"CHSP"
HEAD: Final = struct.Struct("<4sII")
_BODY: Final = struct.Struct("<QqHI")
#: A length above this is damage, not a record (packets are far smaller).
MAX_BODY: Final = 64 * 1024 * 1024

Headers = list[tuple[str, str | bytes | None]]


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """One spooled packet, as read back."""

    seq: int
    timestamp_ms: int
    key: bytes
    value: bytes
    headers: Headers | None
    """None: the publisher's default packet headers."""
    end: int
    """Offset just past this record in its segment."""


@dataclass(frozen=True, slots=True)
class Damage:
    """Bytes of a segment that hold no valid record."""

    offset: int
    length: int
    torn_tail: bool
    """At the end of the segment (a write cut short), not between good records."""


def encode_record(
    seq: int, timestamp_ms: int, key: bytes, value: bytes, headers: Headers | None = None
) -> bytes:
    raw_headers = b"" if headers is None else msgspec.msgpack.encode(headers)
    body = b"".join(
        (_BODY.pack(seq, timestamp_ms, len(key), len(raw_headers)), key, raw_headers, value)
    )
    return HEAD.pack(MAGIC, len(body), zlib.crc32(body)) + body


def _decode(data: bytes | memoryview, offset: int) -> SpoolRecord | None:
    """The valid record at ``offset``, or None."""
    end_head = offset + HEAD.size
    if end_head > len(data):
        return None
    magic, length, crc = HEAD.unpack_from(data, offset)
    if magic != MAGIC or length > MAX_BODY or length < _BODY.size:
        return None
    end = end_head + length
    if end > len(data):
        return None
    body = bytes(data[end_head:end])
    if zlib.crc32(body) != crc:
        return None
    seq, ts, klen, hlen = _BODY.unpack_from(body)
    start = _BODY.size
    if start + klen + hlen > length:
        return None
    key = body[start : start + klen]
    raw_headers = body[start + klen : start + klen + hlen]
    headers: Headers | None = None
    if hlen:
        try:
            headers = [(str(k), v) for k, v in msgspec.msgpack.decode(raw_headers)]
        except (msgspec.DecodeError, TypeError, ValueError):
            return None
    return SpoolRecord(seq, ts, key, body[start + klen + hlen :], headers, end)


def scan(data: bytes | memoryview, offset: int = 0) -> Iterator[SpoolRecord | Damage]:
    """Every valid record from ``offset`` on, and a :class:`Damage` for each stretch between.

    The last item may be a torn tail: a record begun but not complete or not matching its
    checksum, with nothing valid after it.
    """
    pos = offset
    size = len(data)
    while pos < size:
        record = _decode(data, pos)
        if record is not None:
            yield record
            pos = record.end
            continue
        resume = _next_valid(data, pos + 1)
        yield Damage(pos, (resume if resume is not None else size) - pos, resume is None)
        if resume is None:
            return
        pos = resume


def _next_valid(data: bytes | memoryview, start: int) -> int | None:
    raw = bytes(data) if isinstance(data, memoryview) else data
    pos = raw.find(MAGIC, start)
    while pos >= 0:
        if _decode(raw, pos) is not None:
            return pos
        pos = raw.find(MAGIC, pos + 1)
    return None
