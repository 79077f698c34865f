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
import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, overload

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import PacketError
from ..packet import (
    BINARY_MAGIC,
    MAX_DATA_CHUNK_CHARS,
    MAX_ID_CHARS,
    decode_packet,
    timestamp_ok,
)
from ..packet_binary import decode_binary_packet
from .fileformat import ARCHIVE_SCHEMA, RowBuffer

if TYPE_CHECKING:
    from .records import Int64s, RecordRange

__all__ = [
    "PackedValues",
    "binary_column",
    "decode_range",
    "decode_range_python",
    "fast_path_built",
]

try:  # the C fast path for canonical packets, built by `pip install` where a compiler is
    from . import _columns
except ImportError:  # pragma: no cover - a build without a C compiler
    _columns = None  # type: ignore[assignment]  # built without a C compiler


class PackedValues(Sequence[bytes | None]):
    """Record values stored one after another in one buffer, with their sizes (-1: none).

    What the encoder workers get through shared memory: the C fast path reads it as it is,
    and only records that path cannot take are cut out (as bytes) for the msgspec path.
    """

    def __init__(self, blob: memoryview | bytes, sizes: np.ndarray) -> None:
        self.blob = blob
        self.sizes = np.ascontiguousarray(sizes, dtype=np.int64)
        lengths = np.maximum(self.sizes, 0)
        self._starts = np.cumsum(lengths) - lengths
        if len(lengths) and int(self._starts[-1] + lengths[-1]) > len(blob):
            raise ValueError("value sizes add up to more than the buffer")

    def __len__(self) -> int:
        return len(self.sizes)

    @overload
    def __getitem__(self, i: int) -> bytes | None: ...
    @overload
    def __getitem__(self, i: slice) -> list[bytes | None]: ...
    def __getitem__(self, i: int | slice) -> bytes | list[bytes | None] | None:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        size = int(self.sizes[i])
        if size < 0:
            return None
        start = int(self._starts[i])
        return bytes(self.blob[start : start + size])

    def view(self, i: int) -> memoryview | None:
        """Value ``i`` as a view into the buffer (no copy), or None."""
        size = int(self.sizes[i])
        if size < 0:
            return None
        start = int(self._starts[i])
        return memoryview(self.blob)[start : start + size]

    def binary_rows(self) -> np.ndarray:
        """Indices of the values that start with the binary packet's magic."""
        if not len(self.sizes):
            return np.zeros(0, np.int64)
        data = np.frombuffer(self.blob, np.uint8)
        long_enough = np.flatnonzero(self.sizes >= len(BINARY_MAGIC))
        starts = self._starts[long_enough]
        hit = np.ones(len(starts), bool)
        for k, byte in enumerate(BINARY_MAGIC):
            hit &= data[starts + k] == byte
        return long_enough[hit]


def fast_path_built() -> bool:
    """Was the C fast path built (else every record takes the msgspec path)?"""
    return _columns is not None


_ROUTES: Final = pa.array(["node_to_hub", "hub_to_hub"])
#: The usual shape of a packet timestamp: a strict subset of what the packet accepts
#: (:func:`~cosmic_horizons.packet.timestamp_ok`), leaving the calendar to Arrow.
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


def _timestamps_ok(column: pa.Array) -> np.ndarray:
    """Per row: would the packet accept the timestamp (``timestamp_ok``)?

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
    return np.fromiter((timestamp_ok(t) for t in column.to_pylist()), bool, len(column))


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
    flags = _checks(columns)
    chunks = _chunks(packets, flags)
    return flags, columns, chunks


def binary_column(valid: np.ndarray, offsets: pa.Buffer, data: bytes) -> pa.Array:
    """An Arrow binary column over ``data``, cut at int32 ``offsets``; ``valid`` False: null."""
    nulls = len(valid) - int(np.count_nonzero(valid))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(
        pa.binary(), len(valid), [bitmap, offsets, pa.py_buffer(data)], null_count=nulls
    )


def _checks(columns: list[pa.Array]) -> np.ndarray:
    """Per row of the ten packet columns: does it pass the rules msgspec leaves to Python?"""
    ok = pc.is_in(columns[2], value_set=_ROUTES)
    for column in (columns[0], columns[1], columns[3], columns[4]):
        ok = pc.and_(ok, _id_ok(column))
    for column in columns[6:10]:
        ok = pc.and_(ok, pc.is_finite(column))
    flags = np.array(ok.to_numpy(zero_copy_only=False), dtype=bool)
    flags &= _timestamps_ok(columns[5])
    return flags


def decode_range(records: RecordRange) -> tuple[pa.Table, list[tuple[int, PacketError]]]:
    """Archive rows of the records that are packets, in offset order, and the others' errors.

    The keys may be a binary Arrow array. The errors are ``(index into the range,
    PacketError)``, in offset order. Packets in their canonical form (as this project encodes
    them) are cut into columns in C when the extension is built; every other record takes
    the msgspec path, and both give the same rows, errors and files.
    """
    binary = _binary_rows(records.values)
    if len(binary):
        from .decode_binary import decode_with_binary

        return decode_with_binary(records, binary)
    return _decode_json(records)


def _binary_rows(values: Sequence[bytes | None]) -> np.ndarray:
    """Indices of the values in the binary form (JSON text never starts with a NUL byte)."""
    if isinstance(values, PackedValues):
        return values.binary_rows()
    try:
        if not values or min(values) >= b"\x01":  # type: ignore[type-var,operator]
            return np.zeros(0, np.int64)
    except TypeError:  # a missing value
        pass
    return np.flatnonzero([v is not None and v[:4] == BINARY_MAGIC for v in values])


def _decode_json(records: RecordRange) -> tuple[pa.Table, list[tuple[int, PacketError]]]:
    """:func:`decode_range` of a range without binary packets."""
    offsets, keys, values = records.offsets, records.keys, records.values
    if _columns is None or not len(offsets):
        return decode_range_python(records)
    try:
        if isinstance(values, PackedValues):
            split = _columns.split_packed(
                values.blob, values.sizes, MAX_DATA_CHUNK_CHARS, MAX_ID_CHARS
            )
        else:
            split = _columns.split(values, MAX_DATA_CHUNK_CHARS, MAX_ID_CHARS)
        ok_bytes, strings, floats, chunks, n_ok = split
    except OverflowError:  # a column over 2 GiB
        return decode_range_python(records)
    if not n_ok:
        return decode_range_python(records)
    columns = [
        pa.Array.from_buffers(pa.string(), n_ok, [None, pa.py_buffer(o), pa.py_buffer(d)])
        for o, d in strings
    ]
    columns += [pa.Array.from_buffers(pa.float64(), n_ok, [None, pa.py_buffer(f)]) for f in floats]
    valid_bytes, chunk_offsets, chunk_data = chunks
    chunk_column = binary_column(
        np.frombuffer(valid_bytes, np.bool_), pa.py_buffer(chunk_offsets), chunk_data
    )
    # The C path checked every packet rule on the rows it took: nothing is left to check.
    fast = np.flatnonzero(np.frombuffer(ok_bytes, np.bool_))
    fast_rows = fast.tolist()
    table = _assemble(records, fast_rows, columns, chunk_column)
    if len(fast_rows) == len(offsets):
        return table, []
    rest = np.setdiff1d(np.arange(len(offsets)), fast, assume_unique=True).tolist()
    rest_keys = keys.take(pa.array(rest)) if isinstance(keys, pa.Array) else [keys[i] for i in rest]
    others, errors = decode_range_python(
        dataclasses.replace(
            records,
            offsets=_pick(offsets, rest, False),
            timestamps=_pick(records.timestamps, rest, False),
            keys=rest_keys,
            values=[values[i] for i in rest],
        )
    )
    merged = pa.concat_tables([table, others])
    merged = merged.take(pc.sort_indices(merged.column("kafka_offset")))
    return merged, [(rest[j], exc) for j, exc in errors]


def decode_range_python(
    records: RecordRange,
) -> tuple[pa.Table, list[tuple[int, PacketError]]]:
    """:func:`decode_range` without the C extension: msgspec, then ``decode_packet``."""
    r = records
    offsets, keys, values = r.offsets, r.keys, r.values
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
            fast_table = _assemble(records, fast, columns, chunks)
    errors: list[tuple[int, PacketError]] = []
    rows = RowBuffer()
    if len(fast) != n:
        for i in sorted(set(range(n)).difference(fast)):
            value = values[i]
            try:
                if not value:
                    raise PacketError("$", "empty record (no value)")
                packet = (
                    decode_binary_packet(value)
                    if value[:4] == BINARY_MAGIC
                    else decode_packet(bytes(value))
                )
            except PacketError as exc:
                errors.append((i, exc))
                continue
            key = keys[i].as_py() if isinstance(keys, pa.Array) else keys[i]
            rows.append(r.topic, r.partition, int(offsets[i]), int(r.timestamps[i]), key, packet)
    if fast_table is None:
        return rows.to_table(), errors
    if not len(rows):
        return fast_table, errors
    merged = pa.concat_tables([fast_table, rows.to_table()])
    return merged.take(pc.sort_indices(merged.column("kafka_offset"))), errors


def _assemble(
    records: RecordRange,
    rows: list[int],
    columns: list[pa.Array],
    chunks: list[bytes | None] | pa.Array,
) -> pa.Table:
    """The table of the records at ``rows``, from their decoded packet columns."""
    offsets, timestamps_ms = records.offsets, records.timestamps
    every = len(rows) == len(offsets)
    s = ARCHIVE_SCHEMA
    m = len(rows)
    arrays = [
        pa.array([records.topic], pa.string()).take(np.zeros(m, np.int32)),
        pa.array(np.full(m, records.partition, np.int32)),
        _int64_column(_pick(offsets, rows, every), s.field("kafka_offset").type),
        _int64_column(_pick(timestamps_ms, rows, every), s.field("kafka_timestamp").type),
        _keys(records.keys, rows, every),
        *columns,
        chunks if isinstance(chunks, pa.Array) else pa.array(chunks, pa.binary()),
    ]
    return pa.Table.from_arrays(arrays, schema=s)


def _pick(values: Sequence[int] | Int64s, rows: list[int], every: bool) -> Sequence[int] | Int64s:
    """``values`` at ``rows`` (all of them: as they are; an int64 array becomes Arrow's
    without a copy)."""
    if every:
        return values
    if isinstance(values, np.ndarray):
        return values[rows]
    return [values[i] for i in rows]


def _int64_column(values: Sequence[int] | Int64s, type_: pa.DataType) -> pa.Array:
    """A 64-bit column (offsets, timestamps); an int64 array is taken without a copy."""
    if isinstance(values, np.ndarray):
        return pa.array(values, pa.int64()).view(type_)
    return pa.array(values, type_)


def _keys(keys: Sequence[bytes | None] | pa.Array, rows: list[int], every: bool) -> pa.Array:
    if isinstance(keys, pa.Array):
        return keys if every else keys.take(pa.array(rows, pa.int64()))
    return pa.array(keys if every else [keys[i] for i in rows], pa.binary())
