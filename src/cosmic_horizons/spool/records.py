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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

import msgspec

__all__ = [
    "HEAD",
    "MAGIC",
    "Damage",
    "Drained",
    "SpoolRecord",
    "encode_batch",
    "encode_record",
    "read_run",
    "scan",
]

log = logging.getLogger(__name__)

MAGIC: Final = b"CHSP"
HEAD: Final = struct.Struct("<4sII")
_BODY: Final = struct.Struct("<QqHI")
#: HEAD and the body's fixed part in one: what the fast paths pack and unpack.
_FULL: Final = struct.Struct("<4sIIQqHI")
#: A length above this is damage, not a record (packets are far smaller).
MAX_BODY: Final = 64 * 1024 * 1024

Headers = list[tuple[str, str | bytes | None]]
#: A record as the drain reads it: (seq, timestamp_ms, key, value, headers).
Drained = tuple[int, int, bytes, bytes, "Headers | None"]


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


def encode_batch(
    first_seq: int, records: Sequence[tuple[bytes, bytes, int, Headers | None]]
) -> list[bytes]:
    """:func:`encode_record` of each record, seqs from ``first_seq`` on, in fewer steps:
    the checksum runs over the parts, the body is never assembled twice."""
    pack, body_pack, crc32 = _FULL.pack, _BODY.pack, zlib.crc32
    fixed = _BODY.size
    out: list[bytes] = []
    append = out.append
    seq = first_seq
    for key, value, ts, headers in records:
        raw = b"" if headers is None else msgspec.msgpack.encode(headers)
        klen, hlen = len(key), len(raw)
        crc = crc32(value, crc32(raw, crc32(key, crc32(body_pack(seq, ts, klen, hlen)))))
        append(
            b"".join(
                (
                    pack(MAGIC, fixed + klen + hlen + len(value), crc, seq, ts, klen, hlen),
                    key,
                    raw,
                    value,
                )
            )
        )
        seq += 1
    return out


def read_run(data: bytes, pos: int, limit: int, out: list[Drained]) -> int:
    """Append up to ``limit`` valid records from ``pos`` on to ``out``; the offset where it
    stopped (at the end of ``data``, or at bytes that are no valid record: see :func:`scan`)."""
    unpack, crc32, view = _FULL.unpack_from, zlib.crc32, memoryview(data)
    size, head, fixed, full = len(data), HEAD.size, _BODY.size, _FULL.size
    append = out.append
    while limit > 0 and pos + full <= size:
        magic, length, crc, seq, ts, klen, hlen = unpack(data, pos)
        end = pos + head + length
        if (
            magic != MAGIC
            or length > MAX_BODY
            or end > size
            or fixed + klen + hlen > length
            or crc32(view[pos + head : end]) != crc
        ):
            break
        k = pos + full
        headers: Headers | None = None
        if hlen:
            try:
                headers = [
                    (str(n), v) for n, v in msgspec.msgpack.decode(data[k + klen : k + klen + hlen])
                ]
            except (msgspec.DecodeError, TypeError, ValueError):
                break
        append((seq, ts, data[k : k + klen], data[k + klen + hlen : end], headers))
        pos = end
        limit -= 1
    return pos


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
