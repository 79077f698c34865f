"""Decoding a closed range of records into archive rows, fast, with the packet's exact rules.

The fast path parses all values of a range at once with Arrow's JSON reader (C++, columns
out, no Python object per field) and checks the packet's rules on whole columns. Any record
it cannot vouch for goes through :func:`~cosmic_horizons.packet.decode_packet`, which has
the final word: a record is archived exactly when ``decode_packet`` accepts it, and a
rejected record carries ``decode_packet``'s error. When the batch as a whole does not parse
(a value that is not a JSON object, a duplicate key...), every record takes the exact path.
"""

from __future__ import annotations

import binascii
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from ..errors import PacketError
from ..packet import MAX_DATA_CHUNK_CHARS, MAX_ID_CHARS, decode_packet
from .layout import ARCHIVE_SCHEMA, RowBuffer

__all__ = ["decode_range"]

_ID_FIELDS: Final = ("sourceId", "targetId", "elementId", "siteId")
_METRICS: Final = ("vibration", "powerUsage", "noiseFloor", "rfiLevel")
_WIRE_SCHEMA: Final = pa.schema(
    [
        *(pa.field(name, pa.string()) for name in ("sourceId", "targetId", "routeType")),
        *(pa.field(name, pa.string()) for name in ("elementId", "siteId", "timestamp")),
        pa.field("metrics", pa.struct([pa.field(m, pa.float64()) for m in _METRICS])),
        pa.field("data_chunk", pa.string()),
    ]
)
_PARSE: Final = pj.ParseOptions(explicit_schema=_WIRE_SCHEMA, unexpected_field_behavior="ignore")
_READ: Final = pj.ReadOptions(use_threads=True, block_size=4 << 20)
_ROUTES: Final = pa.array(["node_to_hub", "hub_to_hub"])


def _valid_timestamp(value: str | None) -> bool:
    if value is None:
        return False
    try:
        return datetime.fromisoformat(value).utcoffset() is not None
    except ValueError:
        return False


def _parse_batch(values: Sequence[bytes]) -> pa.Table | None:
    """All values parsed as one JSON-lines block, one row each; None if that is not possible."""
    buf = b"\n".join(values)
    # one line per value: a value holding a line break (only legal as whitespace) or a
    # carriage return could shift the rows, so such batches take the exact path
    if buf.count(b"\n") != len(values) - 1 or b"\r" in buf:
        return None
    try:
        table = pj.read_json(io.BytesIO(buf), read_options=_READ, parse_options=_PARSE)
    except (pa.ArrowException, ValueError):
        return None
    # every non-blank line gives at least one row, so equal counts mean one row per value
    return table if table.num_rows == len(values) else None


def _fast_ok(table: pa.Table) -> tuple[list[bool], list[bytes | None]]:
    """Per row: does it pass every packet rule; and its decoded data_chunk."""
    ok = pc.is_in(table.column("routeType"), value_set=_ROUTES)
    for name in _ID_FIELDS:
        length = pc.utf8_length(table.column(name))
        ok = pc.and_kleene(
            ok, pc.and_kleene(pc.greater(length, 0), pc.less_equal(length, MAX_ID_CHARS))
        )
    metrics = table.column("metrics")
    ok = pc.and_kleene(ok, pc.is_valid(metrics))
    for name in _METRICS:
        ok = pc.and_kleene(ok, pc.is_finite(pc.struct_field(metrics, name)))
    chunks = table.column("data_chunk")
    ok = pc.and_kleene(
        ok, pc.fill_null(pc.less_equal(pc.utf8_length(chunks), MAX_DATA_CHUNK_CHARS), True)
    )
    flags: list[bool] = pc.fill_null(ok, False).to_pylist()
    stamps = table.column("timestamp").to_pylist()
    decoded: list[bytes | None] = []
    a2b = binascii.a2b_base64
    for i, chunk in enumerate(chunks.to_pylist()):
        if chunk is None:
            decoded.append(None)
            continue
        try:
            decoded.append(a2b(chunk, strict_mode=True))
        except (binascii.Error, ValueError):
            decoded.append(None)
            flags[i] = False  # maybe URL-safe or unpadded: decode_packet decides
    for i, stamp in enumerate(stamps):
        if flags[i] and not _valid_timestamp(stamp):
            flags[i] = False
    return flags, decoded


def decode_range(
    topic: str,
    partition: int,
    offsets: Sequence[int],
    timestamps_ms: Sequence[int],
    keys: Sequence[bytes | None],
    values: Sequence[bytes | None],
) -> tuple[pa.Table, list[tuple[int, PacketError]]]:
    """Archive rows of the records that are packets, in offset order, and the others' errors.

    The errors are ``(index into the inputs, PacketError)``, in input order.
    """
    n = len(offsets)
    present: list[int] = []
    present_values: list[bytes] = []
    for i, v in enumerate(values):
        if v:
            present.append(i)
            present_values.append(v)
    parsed = _parse_batch(present_values) if present else None
    fast_rows: list[int] = []
    fast_table: pa.Table | None = None
    if parsed is not None:
        flags, chunks = _fast_ok(parsed)
        keep = [j for j, good in enumerate(flags) if good]
        fast_rows = [present[j] for j in keep]
        if fast_rows:
            fast_table = _assemble(
                topic, partition, offsets, timestamps_ms, keys, fast_rows, parsed, keep, chunks
            )
    slow = sorted(set(range(n)) - set(fast_rows))
    errors: list[tuple[int, PacketError]] = []
    rows = RowBuffer()
    for i in slow:
        value = values[i]
        try:
            if not value:
                raise PacketError("$", "empty record (no value)")
            packet = decode_packet(value)
        except PacketError as exc:
            errors.append((i, exc))
            continue
        rows.append(topic, partition, offsets[i], timestamps_ms[i], keys[i], packet)
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
    keys: Sequence[bytes | None],
    rows: list[int],
    parsed: pa.Table,
    keep: list[int],
    chunks: list[bytes | None],
) -> pa.Table:
    if len(keep) != parsed.num_rows:
        parsed = parsed.take(pa.array(keep, pa.int64()))
        chunks = [chunks[j] for j in keep]
    every = len(rows) == len(offsets)
    s = ARCHIVE_SCHEMA
    metrics = parsed.column("metrics")
    n = len(rows)
    columns: list[Any] = [
        pa.array([topic] * n, s.field("kafka_topic").type),
        pa.array([partition] * n, s.field("kafka_partition").type),
        pa.array(offsets if every else [offsets[i] for i in rows], s.field("kafka_offset").type),
        pa.array(
            timestamps_ms if every else [timestamps_ms[i] for i in rows],
            s.field("kafka_timestamp").type,
        ),
        pa.array(keys if every else [keys[i] for i in rows], s.field("kafka_key").type),
        *(parsed.column(name) for name in ("sourceId", "targetId", "routeType")),
        *(parsed.column(name) for name in ("elementId", "siteId", "timestamp")),
        *(pc.struct_field(metrics, name) for name in _METRICS),
        pa.array(chunks, s.field("data_chunk").type),
    ]
    return pa.Table.from_arrays(columns, schema=s)
