"""The archiver decodes binary packets to the same rows and errors as the exact decoder,
alone, mixed with JSON packets, and through the workers' shared-memory form."""

from __future__ import annotations

import pyarrow as pa
import pytest

from cosmic_horizons.archiver import decode as decode_module
from cosmic_horizons.archiver import decode_binary as binary_module
from cosmic_horizons.archiver.decode import decode_range, decode_range_python
from cosmic_horizons.archiver.fileformat import RowBuffer, encode_parquet
from cosmic_horizons.archiver.records import RecordRange
from cosmic_horizons.errors import PacketError
from cosmic_horizons.packet import decode_packet, encode_packet
from cosmic_horizons.packet_binary import decode_binary_packet, encode_binary, is_binary
from tests.helpers import decoded_through_shared_memory, make_packet
from tests.unit.test_packet_binary import FIELDS, build

BAD_BINARY: list[bytes | None] = [
    b"\x00CHB\x01",  # truncated header
    build(FIELDS, b"abc")[:15],  # truncated fields
    build(FIELDS, None, version=9),
    build(FIELDS.replace(b'"node_to_hub"', b'"up"'), b"x"),
    build(FIELDS.replace(b"-98.5", b"1e999"), b"x"),
    build(FIELDS.replace(b"}}", b'},"data_chunk":""}'), None),  # a chunk in the fields
    build(FIELDS.replace(b'"sourceId"', b'"sourceId" '), b"ok"),  # fine, not canonical
]


def good_binary(n: int) -> list[bytes | None]:
    return [encode_binary(make_packet(i), bytes([i % 256]) * (i * 37 % 700)) for i in range(n)]


def exact(values: list[bytes | None]) -> tuple[pa.Table, list[tuple[int, str]]]:
    rows = RowBuffer()
    errors: list[tuple[int, str]] = []
    for i, value in enumerate(values):
        try:
            if not value:
                raise PacketError("$", "empty record (no value)")
            packet = decode_binary_packet(value) if is_binary(value) else decode_packet(value)
        except PacketError as exc:
            errors.append((i, str(exc)))
            continue
        rows.append("t", 1, 10 + i, 1_700_000_000_000 + i, b"k%d" % i, packet)
    return rows.to_table(), errors


def the_range(values: list[bytes | None]) -> RecordRange:
    n = len(values)
    return RecordRange(
        "t",
        1,
        [10 + i for i in range(n)],
        [1_700_000_000_000 + i for i in range(n)],
        [b"k%d" % i for i in range(n)],
        values,
    )


def assert_same(values: list[bytes | None]) -> None:
    want_table, want_errors = exact(values)
    for decode in (decode_range, decode_range_python):
        table, errors = decode(the_range(values))
        assert [(i, str(e)) for i, e in errors] == want_errors
        assert table.to_pylist() == want_table.to_pylist()
        assert encode_parquet(table) == encode_parquet(want_table)


def test_binary_range_keeps_the_raw_chunk_bytes() -> None:
    values = good_binary(300)
    assert_same(values)
    table, errors = decode_range(the_range(values))
    assert not errors
    assert table.column("data_chunk")[5].as_py() == bytes([5]) * (5 * 37 % 700)
    none = encode_binary(make_packet(1))
    assert decode_range(the_range([none]))[0].column("data_chunk")[0].as_py() is None


def test_good_binary_packets_never_take_the_exact_decoder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(value: bytes) -> None:
        raise AssertionError("the exact decoder was asked about a good binary packet")

    monkeypatch.setattr(binary_module, "decode_binary_packet", refuse)
    monkeypatch.setattr(decode_module, "decode_binary_packet", refuse)
    values = good_binary(50)
    table, errors = decode_range(the_range(values))
    assert not errors and table.num_rows == 50
    mixed = [*values[:3], encode_packet(make_packet(1)), *values[3:6]]
    assert decode_range(the_range(mixed))[0].num_rows == 7


def test_bad_binary_records_among_good_ones_and_json_ones() -> None:
    json_ones: list[bytes | None] = [encode_packet(make_packet(i)) for i in range(4)]
    values = [*good_binary(3), *BAD_BINARY, *json_ones, None, b"", *good_binary(2)]
    assert_same(values)
    for bad in BAD_BINARY:
        assert_same([*good_binary(2), bad, *good_binary(2)])
    _, errors = decode_range(the_range(values))
    assert len(errors) == len(BAD_BINARY) - 1 + 2  # the non-canonical one is good


def test_the_shared_memory_form_decodes_alike() -> None:
    values = [*good_binary(20), BAD_BINARY[3], encode_packet(make_packet(3)), None]
    records = the_range(values)
    rows, errors = decoded_through_shared_memory(records)
    want, want_errors = decode_range(records)
    assert rows == want.to_pylist()
    assert errors == [(i, str(e)) for i, e in want_errors]
