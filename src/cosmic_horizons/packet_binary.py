"""The packet's binary form: its fields as JSON and the visibility chunk as raw bytes.

Layout (integers big-endian; see docs/packet.md, "Binary form")::

    0   4  magic 00 43 48 42 ("\\0CHB")
    4   1  layout version (1)
    5   1  flags: bit 0 set when a chunk follows; the other bits are 0
    6   2  reserved, 0
    8   4  N, the length of the fields
    12  N  the packet's fields as JSON (the spec's names), without data_chunk
    12+N   the chunk's bytes, to the end of the value (nothing when bit 0 is clear)

Announced by the ``content-type`` header :data:`~cosmic_horizons.packet.BINARY_CONTENT_TYPE`.
Every rule of the JSON packet holds; the chunk may be at most :data:`MAX_CHUNK_BYTES`, the
bytes of the longest base64 ``data_chunk``, so either form converts to the other.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

import msgspec

from .errors import PacketError
from .packet import (
    BINARY_CONTENT_TYPE,
    BINARY_MAGIC,
    CONTENT_TYPE,
    MAX_DATA_CHUNK_CHARS,
    KafkaPayload,
    chunk_bytes,
    decode_packet,
    encode_packet,
)

__all__ = [
    "HEADER_SIZE",
    "LAYOUT_VERSION",
    "MAX_CHUNK_BYTES",
    "Headers",
    "check_raw_chunk",
    "content_type_of",
    "decode_binary",
    "decode_binary_packet",
    "decode_record",
    "encode_binary",
    "is_binary",
    "split_binary",
]

LAYOUT_VERSION: Final = 1
_HEAD: Final = struct.Struct(">4sBBHI")
#: Bytes before the fields.
HEADER_SIZE: Final = _HEAD.size
#: Largest chunk in bytes: what the longest base64 ``data_chunk`` decodes to (576 KiB).
MAX_CHUNK_BYTES: Final = MAX_DATA_CHUNK_CHARS // 4 * 3
_HAS_CHUNK: Final = 1
_pack = _HEAD.pack
_encode = encode_packet
_HEAD_NO_CHUNK: Final = _pack(BINARY_MAGIC, LAYOUT_VERSION, 0, 0, 0)[:8]
_HEAD_CHUNK: Final = _pack(BINARY_MAGIC, LAYOUT_VERSION, _HAS_CHUNK, 0, 0)[:8]
_LENGTH: Final = struct.Struct(">I").pack


def encode_binary(packet: KafkaPayload, chunk: bytes | memoryview | None = None) -> bytes:
    """The packet's binary form; ``chunk`` (raw bytes) stands for a ``data_chunk`` left None.

    A packet that has a ``data_chunk`` has its base64 decoded into the value.
    """
    if chunk is not None:
        check_raw_chunk(packet, chunk)
    elif packet.data_chunk is not None:
        chunk = packet.chunk() or b""  # has a data_chunk: never None
        packet = msgspec.structs.replace(packet, data_chunk=None)
        _check_size(chunk)
    fields = _encode(packet)
    if chunk is None:
        return b"".join((_HEAD_NO_CHUNK, _LENGTH(len(fields)), fields))
    return b"".join((_HEAD_CHUNK, _LENGTH(len(fields)), fields, chunk))


def check_raw_chunk(packet: KafkaPayload, chunk: bytes | memoryview) -> None:
    """Raise the :class:`PacketError` :func:`encode_binary` gives for raw ``chunk`` bytes
    handed with ``packet``: given twice (the packet has a ``data_chunk``), or too long."""
    if packet.data_chunk is not None:
        raise PacketError("$.data_chunk", "given twice: as data_chunk and as raw chunk bytes")
    _check_size(chunk)


def _check_size(chunk: bytes | memoryview) -> None:
    if len(chunk) > MAX_CHUNK_BYTES:
        raise PacketError(
            "$.data_chunk", f"{len(chunk)} bytes is over the limit of {MAX_CHUNK_BYTES}"
        )


def is_binary(value: bytes | memoryview | None) -> bool:
    """Does ``value`` start like a binary packet?"""
    return value is not None and value[:4] == BINARY_MAGIC


def split_binary(value: bytes | memoryview) -> tuple[memoryview, memoryview | None]:
    """The fields (JSON) and the chunk of a binary value, as views, its header checked."""
    n = len(value)
    if n < HEADER_SIZE:
        raise PacketError(
            "$", f"binary packet truncated: {n} bytes, shorter than its {HEADER_SIZE}-byte header"
        )
    magic, version, flags, reserved, length = _HEAD.unpack_from(value)
    if magic != BINARY_MAGIC:
        raise PacketError(
            "$", f"not a binary packet: starts with {bytes(magic).hex(' ')}, not 00 43 48 42"
        )
    if version != LAYOUT_VERSION:
        raise PacketError(
            "$", f"binary layout version {version} is not supported (this reader knows 1)"
        )
    if flags & ~_HAS_CHUNK or reserved:
        raise PacketError("$", f"unknown binary header flags {flags:#04x}/{reserved:#06x}")
    if length > n - HEADER_SIZE:
        raise PacketError(
            "$",
            f"binary packet truncated: its fields claim {length} bytes, "
            f"{n - HEADER_SIZE} follow the header",
        )
    view = memoryview(value)
    end = HEADER_SIZE + length
    if not flags & _HAS_CHUNK:
        if end != n:
            raise PacketError(
                "$", f"{n - end} bytes after the fields, but the header says no chunk follows"
            )
        return view[HEADER_SIZE:end], None
    if n - end > MAX_CHUNK_BYTES:
        raise PacketError("$.data_chunk", f"{n - end} bytes is over the limit of {MAX_CHUNK_BYTES}")
    return view[HEADER_SIZE:end], view[end:]


def decode_binary(value: bytes | memoryview) -> tuple[KafkaPayload, bytes | None]:
    """Parse and validate one binary packet: the packet (``data_chunk`` None) and its chunk."""
    fields, chunk = split_binary(value)
    packet = decode_packet(fields)
    if packet.data_chunk is not None:
        raise PacketError(
            "$.data_chunk", "not allowed in a binary packet's fields (the chunk follows them)"
        )
    return packet, None if chunk is None else bytes(chunk)


def decode_binary_packet(value: bytes | memoryview) -> KafkaPayload:
    """A binary packet as the JSON model: its chunk back in ``data_chunk`` as base64."""
    packet, chunk = decode_binary(value)
    if chunk is None:
        return packet
    return msgspec.structs.replace(packet, data_chunk=chunk_bytes(chunk))


Headers = Sequence[tuple[str, str | bytes | None]] | dict[str, str | bytes | None] | None


def content_type_of(headers: Headers) -> str | None:
    """The record's ``content-type`` header (the last one), or None."""
    if not headers:
        return None
    items = headers.items() if isinstance(headers, dict) else headers
    found: str | bytes | None = None
    for name, value in items:
        if name == "content-type":
            found = value
    if isinstance(found, bytes):
        return found.decode("utf-8", "replace")
    return found


def decode_record(value: bytes | memoryview | None, headers: Headers) -> KafkaPayload:
    """A record's packet by its ``content-type``: binary, or JSON (also when it has none)."""
    if not value:
        raise PacketError("$", "empty record (no value)")
    kind = content_type_of(headers)
    if kind is None or kind == CONTENT_TYPE:
        return decode_packet(value)
    if kind == BINARY_CONTENT_TYPE:
        if not is_binary(value):
            raise PacketError(
                "$", f"content-type says {BINARY_CONTENT_TYPE} but the value is not binary"
            )
        return decode_binary_packet(value)
    raise PacketError(
        "$",
        f"unknown content-type {kind[:80]!r} (expected {CONTENT_TYPE} or {BINARY_CONTENT_TYPE})",
    )
