"""Decoding ranges that hold binary packets (:mod:`cosmic_horizons.packet_binary`).

The fields of each binary value are cut into columns by the same C fast path as JSON packets;
the chunk column is the values' raw tails joined once, with no base64 pass. Any record that
path cannot vouch for takes :func:`~cosmic_horizons.packet_binary.decode_binary_packet`,
which has the final word, as ``decode_packet`` has for JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import PacketError
from ..packet import MAX_ID_CHARS
from ..packet_binary import decode_binary_packet, split_binary
from .decode import PackedValues, _assemble, _decode_json, _pick, binary_column
from .fileformat import RowBuffer

if TYPE_CHECKING:
    from .records import RecordRange

try:  # the C fast path, as in .decode
    from . import _columns
except ImportError:  # pragma: no cover - a build without a C compiler
    _columns = None  # type: ignore[assignment]

__all__ = ["decode_with_binary"]


def _subset(records: RecordRange, rows: Sequence[int]) -> RecordRange:
    keys, picked = records.keys, list(rows)
    return dataclasses.replace(
        records,
        offsets=_pick(records.offsets, picked, False),
        timestamps=_pick(records.timestamps, picked, False),
        keys=keys.take(pa.array(rows, pa.int64()))
        if isinstance(keys, pa.Array)
        else [keys[i] for i in rows],
        values=[records.values[i] for i in rows],
    )


def decode_with_binary(
    records: RecordRange, binary: np.ndarray
) -> tuple[pa.Table, list[tuple[int, PacketError]]]:
    """A range with binary packets: those by :func:`_decode_binary`, the rest as JSON."""
    if len(binary) == len(records):
        return _decode_binary(records)
    rows = binary.tolist()
    rest = np.setdiff1d(np.arange(len(records)), binary, assume_unique=True).tolist()
    table_b, errors_b = _decode_binary(_subset(records, rows))
    table_j, errors_j = _decode_json(_subset(records, rest))
    merged = pa.concat_tables([table_b, table_j])
    merged = merged.take(pc.sort_indices(merged.column("kafka_offset")))
    errors = [(rows[j], e) for j, e in errors_b] + [(rest[j], e) for j, e in errors_j]
    return merged, sorted(errors, key=lambda pair: pair[0])


def _decode_binary(records: RecordRange) -> tuple[pa.Table, list[tuple[int, PacketError]]]:
    """Binary packets: fields cut in C like JSON packets, the chunk column from the raw
    tails (no base64 pass); any record that path cannot vouch for takes the exact decoder."""
    packed = records.values
    values: Sequence[bytes | memoryview | None] = (
        [packed.view(i) for i in range(len(packed))] if isinstance(packed, PackedValues) else packed
    )
    fields: list[memoryview | None] = []
    tails: list[memoryview | None] = []
    for value in values:
        field: memoryview | None = None
        tail: memoryview | None = None
        if value is not None:
            with contextlib.suppress(PacketError):
                field, tail = split_binary(value)
        fields.append(field)
        tails.append(tail)
    if _columns is None or not any(f is not None for f in fields):
        return _decode_exact(records, values, range(len(values)))
    ok_bytes, strings, floats, in_fields, n_ok = _columns.split(fields, 0, MAX_ID_CHARS)
    parsed = np.frombuffer(ok_bytes, np.bool_)
    columns = [
        pa.Array.from_buffers(pa.string(), n_ok, [None, pa.py_buffer(o), pa.py_buffer(d)])
        for o, d in strings
    ]
    columns += [pa.Array.from_buffers(pa.float64(), n_ok, [None, pa.py_buffer(f)]) for f in floats]
    parsed_at = np.flatnonzero(parsed)
    # every packet rule was checked in C; a data_chunk in the fields is refused here
    flags = ~np.frombuffer(in_fields[0], np.bool_)
    fast = parsed_at[flags]
    if not flags.all():
        keep = pa.array(np.flatnonzero(flags))
        columns = [c.take(keep) for c in columns]
    fast_rows = fast.tolist()
    chunks = [tails[i] for i in fast_rows]
    sizes = np.fromiter((-1 if c is None else len(c) for c in chunks), np.int64, len(chunks))
    offsets = np.zeros(len(chunks) + 1, np.int32)
    np.cumsum(np.maximum(sizes, 0), out=offsets[1:])
    chunk_column = binary_column(
        sizes >= 0, pa.py_buffer(offsets), b"".join(c for c in chunks if c is not None)
    )
    table = _assemble(records, fast_rows, columns, chunk_column)
    if len(fast_rows) == len(values):
        return table, []
    rest = np.setdiff1d(np.arange(len(values)), fast, assume_unique=True).tolist()
    others, errors = _decode_exact(records, values, rest)
    merged = pa.concat_tables([table, others])
    return merged.take(pc.sort_indices(merged.column("kafka_offset"))), errors


def _decode_exact(
    records: RecordRange, values: Sequence[bytes | memoryview | None], rows: Sequence[int]
) -> tuple[pa.Table, list[tuple[int, PacketError]]]:
    """Binary records at ``rows`` one by one through the exact decoder."""
    out = RowBuffer()
    errors: list[tuple[int, PacketError]] = []
    keys = records.keys
    for i in rows:
        value = values[i]
        try:
            if not value:
                raise PacketError("$", "empty record (no value)")
            packet = decode_binary_packet(bytes(value))  # no view into shared memory kept
        except PacketError as exc:
            errors.append((i, exc.with_traceback(None)))
            continue
        key = keys[i].as_py() if isinstance(keys, pa.Array) else keys[i]
        out.append(
            records.topic,
            records.partition,
            int(records.offsets[i]),
            int(records.timestamps[i]),
            key,
            packet,
        )
    return out.to_table(), errors
