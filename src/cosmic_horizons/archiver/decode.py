"""Decoding a closed range of records into archive rows, fast, with the packet's exact rules.

The fast path decodes each value with msgspec into a plain wire struct (the same JSON parser
and type rules as :func:`~cosmic_horizons.packet.decode_packet`, without the per-field Python
checks), then checks the packet's remaining rules on whole columns. Any record it cannot
vouch for goes through ``decode_packet``, which has the final word: a record is archived
exactly when ``decode_packet`` accepts it, and a rejected record carries ``decode_packet``'s
error.
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Final

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import PacketError
from ..packet import MAX_DATA_CHUNK_CHARS, MAX_ID_CHARS, decode_packet
from .layout import ARCHIVE_SCHEMA, RowBuffer

__all__ = ["decode_range"]

_ROUTES: Final = pa.array(["node_to_hub", "hub_to_hub"])
#: The usual shape of a packet timestamp; a strict subset of what ``fromisoformat`` takes.
_ISO_SHAPE: Final = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)


class _WireMetrics(msgspec.Struct, gc=False):
    vibration: float
    powerUsage: float
    noiseFloor: float
    rfiLevel: float


class _WirePacket(msgspec.Struct, gc=False):
    """The packet's JSON shape and types, without the checks msgspec cannot do in C."""

    sourceId: str
    targetId: str
    routeType: str
    elementId: str
    siteId: str
    timestamp: str
    metrics: _WireMetrics
    data_chunk: str | None = None


_wire_decoder: Final = msgspec.json.Decoder(_WirePacket)


def _timestamp_ok(value: str) -> bool:
    try:
        return datetime.fromisoformat(value).utcoffset() is not None
    except ValueError:
        return False


def _timestamps_ok(column: pa.Array, packets: list[_WirePacket]) -> np.ndarray:
    """Per row: would ``datetime.fromisoformat`` accept the timestamp, with a zone?

    When every timestamp has the common shape (``2026-11-27T12:00:00.123Z``) and Arrow's
    calendar-checking parser takes them all, the answer is yes for all at once; otherwise
    each one is asked.
    """
    if pc.all(pc.match_substring_regex(column, _ISO_SHAPE)).as_py():
        try:
            pc.cast(column, pa.timestamp("ns", tz="UTC"))
        except pa.ArrowInvalid:
            pass
        else:
            return np.ones(len(column), dtype=bool)
    return np.fromiter((_timestamp_ok(p.timestamp) for p in packets), bool, len(packets))


def _id_ok(column: pa.Array) -> pa.Array:
    length = pc.utf8_length(column)
    return pc.and_(pc.greater(length, 0), pc.less_equal(length, MAX_ID_CHARS))


def _chunks(packets: list[_WirePacket], flags: np.ndarray) -> list[bytes | None]:
    """Decoded data_chunks; rows whose chunk is not canonical base64 get flag False."""
    texts = [p.data_chunk for p in packets]
    a2b = binascii.a2b_base64
    present = [t for t in texts if t is not None]
    if not present or max(map(len, present)) <= MAX_DATA_CHUNK_CHARS:
        try:
            return [None if t is None else a2b(t, strict_mode=True) for t in texts]
        except (binascii.Error, ValueError):
            pass
    out: list[bytes | None] = []
    for i, t in enumerate(texts):
        if t is None:
            out.append(None)
            continue
        try:
            if len(t) > MAX_DATA_CHUNK_CHARS:
                raise ValueError("too long")
            out.append(a2b(t, strict_mode=True))
        except (binascii.Error, ValueError):
            flags[i] = False  # too long, URL-safe or unpadded: decode_packet decides
            out.append(None)
    return out


def _fast_rows(
    packets: list[_WirePacket],
) -> tuple[np.ndarray, list[pa.Array], list[bytes | None]]:
    """Which decoded rows pass every packet rule; their packet columns; decoded chunks."""
    columns = [
        pa.array([p.sourceId for p in packets], pa.string()),
        pa.array([p.targetId for p in packets], pa.string()),
        pa.array([p.routeType for p in packets], pa.string()),
        pa.array([p.elementId for p in packets], pa.string()),
        pa.array([p.siteId for p in packets], pa.string()),
        pa.array([p.timestamp for p in packets], pa.string()),
    ]
    metrics = [p.metrics for p in packets]
    columns += [
        pa.array([m.vibration for m in metrics], pa.float64()),
        pa.array([m.powerUsage for m in metrics], pa.float64()),
        pa.array([m.noiseFloor for m in metrics], pa.float64()),
        pa.array([m.rfiLevel for m in metrics], pa.float64()),
    ]
    ok = pc.is_in(columns[2], value_set=_ROUTES)
    for column in (columns[0], columns[1], columns[3], columns[4]):
        ok = pc.and_(ok, _id_ok(column))
    for column in columns[6:10]:
        ok = pc.and_(ok, pc.is_finite(column))
    flags = np.array(ok.to_numpy(zero_copy_only=False), dtype=bool)
    flags &= _timestamps_ok(columns[5], packets)
    chunks = _chunks(packets, flags)
    return flags, columns, chunks


def decode_range(
    topic: str,
    partition: int,
    offsets: Sequence[int],
    timestamps_ms: Sequence[int],
    keys: Sequence[bytes | None] | pa.Array,
    values: Sequence[bytes | memoryview | None],
) -> tuple[pa.Table, list[tuple[int, PacketError]]]:
    """Archive rows of the records that are packets, in offset order, and the others' errors.

    ``keys`` may be a binary Arrow array. The errors are ``(index into the inputs,
    PacketError)``, in input order.
    """
    n = len(offsets)
    decoded_at: list[int] = []
    packets: list[_WirePacket] = []
    decode = _wire_decoder.decode
    for i, value in enumerate(values):
        if value:
            try:
                packets.append(decode(value))
            except (msgspec.DecodeError, UnicodeDecodeError):
                continue
            decoded_at.append(i)
    fast_table: pa.Table | None = None
    fast: list[int] = []
    if packets:
        flags, columns, chunks = _fast_rows(packets)
        if flags.all():
            fast = decoded_at
        else:
            keep = np.flatnonzero(flags)
            fast = [decoded_at[j] for j in keep]
            take = pa.array(keep, pa.int64())
            columns = [c.take(take) for c in columns]
            chunks = [chunks[j] for j in keep]
        if fast:
            fast_table = _assemble(
                topic, partition, offsets, timestamps_ms, keys, fast, columns, chunks
            )
    errors: list[tuple[int, PacketError]] = []
    rows = RowBuffer()
    if len(fast) != n:
        for i in sorted(set(range(n)).difference(fast)):
            value = values[i]
            try:
                if not value:
                    raise PacketError("$", "empty record (no value)")
                packet = decode_packet(bytes(value))
            except PacketError as exc:
                errors.append((i, exc))
                continue
            key = keys[i].as_py() if isinstance(keys, pa.Array) else keys[i]
            rows.append(topic, partition, offsets[i], timestamps_ms[i], key, packet)
    if fast_table is None:
        return rows.to_table(), errors
    if not len(rows):
        return fast_table, errors
    merged = pa.concat_tables([fast_table, rows.to_table()])
    return merged.take(pc.sort_indices(merged.column("kafka_offset"))), errors


def _assemble(
    topic: str,
    partition: int,
    offsets: Sequence[int],
    timestamps_ms: Sequence[int],
    keys: Sequence[bytes | None] | pa.Array,
    rows: list[int],
    columns: list[pa.Array],
    chunks: list[bytes | None],
) -> pa.Table:
    every = len(rows) == len(offsets)
    s = ARCHIVE_SCHEMA
    m = len(rows)
    arrays = [
        pa.array([topic], pa.string()).take(np.zeros(m, np.int32)),
        pa.array(np.full(m, partition, np.int32)),
        pa.array(offsets if every else [offsets[i] for i in rows], s.field("kafka_offset").type),
        pa.array(
            timestamps_ms if every else [timestamps_ms[i] for i in rows],
            s.field("kafka_timestamp").type,
        ),
        _keys(keys, rows, every),
        *columns,
        pa.array(chunks, s.field("data_chunk").type),
    ]
    return pa.Table.from_arrays(arrays, schema=s)


def _keys(keys: Sequence[bytes | None] | pa.Array, rows: list[int], every: bool) -> pa.Array:
    if isinstance(keys, pa.Array):
        return keys if every else keys.take(pa.array(rows, pa.int64()))
    return pa.array(keys if every else [keys[i] for i in rows], pa.binary())
