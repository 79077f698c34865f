"""The archiver's batch decoding agrees with decode_packet on every record, good or bad."""

from __future__ import annotations

import base64
import json

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosmic_horizons.archiver.decode import decode_range
from cosmic_horizons.archiver.fileformat import RowBuffer, encode_parquet
from cosmic_horizons.archiver.records import RecordRange
from cosmic_horizons.errors import PacketError
from cosmic_horizons.packet import MAX_DATA_CHUNK_CHARS, MAX_ID_CHARS, decode_packet, encode_packet
from tests.helpers import make_packet
from tests.unit.test_packet import ACCEPTED_TIMESTAMPS, REJECTED_TIMESTAMPS, TIMESTAMP_PARTS

GOOD = json.loads(
    encode_packet(make_packet(7, chunk=base64.b64encode(b"\x00\x01\xfe\xff").decode()))
)


def variant(**changes: object) -> bytes:
    doc = {**GOOD, **changes}
    return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()


def metrics(**changes: object) -> dict[str, object]:
    return {**GOOD["metrics"], **changes}


EDGE_CASES: list[bytes | None] = [
    variant(),
    variant(timestamp="2026-11-27T12:00:00Z"),
    variant(timestamp="2026-11-27T12:00:00.123456789+05:30"),
    variant(timestamp="2026-11-27 12:00:00+00:00"),  # space separator: not RFC 3339's T
    variant(timestamp="2026-11-27T12:00:00"),  # no timezone
    variant(timestamp="2026-02-30T12:00:00Z"),  # no such day
    variant(timestamp="2024-02-29T12:00:00Z"),  # leap day
    variant(timestamp="2026-02-29T12:00:00Z"),  # not a leap year
    variant(timestamp="2300-01-01T00:00:00Z"),  # beyond Arrow's nanosecond range
    variant(timestamp="2026-11-27T23:59:60Z"),  # leap second
    variant(timestamp="0000-01-01T00:00:00Z"),
    variant(timestamp="yesterday"),
    variant(timestamp=5),
    *(variant(timestamp=text) for text, _ms in ACCEPTED_TIMESTAMPS),
    *(variant(timestamp=text) for text in REJECTED_TIMESTAMPS),
    variant(sourceId=""),
    variant(sourceId="x" * MAX_ID_CHARS),
    variant(sourceId="x" * (MAX_ID_CHARS + 1)),
    variant(siteId="é" * MAX_ID_CHARS),  # characters, not bytes
    variant(elementId=None),
    variant(targetId=...),  # missing
    variant(routeType="hub_to_node"),
    variant(metrics=metrics(vibration=1)),  # int where a float is expected
    variant(metrics=metrics(rfiLevel="high")),
    variant(metrics=metrics(rfiLevel=True)),
    variant(metrics=metrics(noiseFloor=None)),
    variant(metrics={"vibration": 1.0}),
    variant(metrics=None),
    variant(metrics=[1, 2]),
    variant(metrics=metrics(extra={"nested": [1, 2]})),
    variant(unknown_field=[1, {"a": None}]),
    variant(data_chunk=None),
    variant(data_chunk=...),
    variant(data_chunk=""),
    variant(data_chunk="AAEC/v8="),
    variant(data_chunk="AAEC_v8"),  # URL-safe without padding: accepted by the exact path
    variant(data_chunk="AAEC/v8"),  # missing padding
    variant(data_chunk="AA=EC/v8"),
    variant(data_chunk="***"),
    variant(data_chunk="ÀÀÀÀ"),
    variant(data_chunk="A" * MAX_DATA_CHUNK_CHARS),
    variant(data_chunk="A" * (MAX_DATA_CHUNK_CHARS + 4)),
    json.dumps(GOOD).replace('"metrics"', '"metrics" ').encode(),
    json.dumps(GOOD).replace("1}", "1e999}").encode(),
    json.dumps(GOOD).replace('"vibration": 0.07', '"vibration": NaN').encode(),
    json.dumps(GOOD, indent=2).encode(),  # line breaks as whitespace
    json.dumps(GOOD).replace(", ", ",\r\n").encode(),
    b"  " + json.dumps(GOOD).encode() + b"  ",
    json.dumps(GOOD).encode()[:-1] + b', "sourceId": "dup"}',  # duplicate key
    json.dumps(GOOD).encode() + json.dumps(GOOD).encode(),  # two objects
    json.dumps(GOOD).encode() + b" x",
    b"not json",
    b"[]",
    b"5",
    b"   ",
    b"",
    None,
    b'{"sourceId": "a\xff"}',
    json.dumps(GOOD).replace('"site-3"', '"site-\\u0000"').encode(),
]


def exact(values: list[bytes | None]) -> tuple[pa.Table, list[tuple[int, str]]]:
    rows = RowBuffer()
    errors: list[tuple[int, str]] = []
    for i, value in enumerate(values):
        try:
            if not value:
                raise PacketError("$", "empty record (no value)")
            packet = decode_packet(value)
        except PacketError as exc:
            errors.append((i, str(exc)))
            continue
        rows.append("t", 3, 100 + i, 1_700_000_000_000 + i, f"k{i}".encode(), packet)
    return rows.to_table(), errors


def batch(values: list[bytes | None]) -> tuple[pa.Table, list[tuple[int, str]]]:
    n = len(values)
    table, errors = decode_range(
        RecordRange(
            "t",
            3,
            [100 + i for i in range(n)],
            [1_700_000_000_000 + i for i in range(n)],
            [f"k{i}".encode() for i in range(n)],
            values,
        )
    )
    return table, [(i, str(e)) for i, e in errors]


def assert_same(values: list[bytes | None]) -> None:
    want_table, want_errors = exact(values)
    got_table, got_errors = batch(values)
    assert got_errors == want_errors
    assert got_table.to_pylist() == want_table.to_pylist()
    assert encode_parquet(got_table) == encode_parquet(want_table)


def test_all_good_batch_takes_the_fast_path_and_matches() -> None:
    values = [
        encode_packet(
            make_packet(i, chunk=base64.b64encode(bytes([i % 256]) * (i % 9)).decode() or None)
        )
        for i in range(500)
    ]
    assert_same(values)


@pytest.mark.parametrize("index", range(len(EDGE_CASES)))
def test_each_edge_case_among_good_packets(index: int) -> None:
    good = [encode_packet(make_packet(i)) for i in range(5)]
    assert_same([*good[:2], EDGE_CASES[index], *good[2:]])


def test_all_edge_cases_in_one_batch() -> None:
    assert_same(EDGE_CASES)


def test_edge_cases_that_parse_as_a_batch() -> None:
    parseable = [v for v in EDGE_CASES if v and v.strip().startswith(b"{") and b"\n" not in v]
    assert_same(parseable)


@pytest.mark.parametrize("text", [t for t, _ms in ACCEPTED_TIMESTAMPS] + REJECTED_TIMESTAMPS)
def test_timestamp_forms_alone_in_a_batch(text: str) -> None:
    """A batch whose timestamps all have one form: the column-wide check decides it alone."""
    assert_same([variant(timestamp=text)] * 3)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(TIMESTAMP_PARTS, min_size=1, max_size=5), st.integers(0, 2))
def test_fuzz_timestamps_batch_agrees_with_decode_packet(texts: list[str], good: int) -> None:
    values = [variant(timestamp=text) for text in texts]
    assert_same([encode_packet(make_packet(i)) for i in range(good)] + values)
    assert_same([canonical_timestamp(text) for text in texts])  # through the C fast path


def canonical_timestamp(text: str) -> bytes:
    return encode_packet(make_packet(4)).replace(
        make_packet(4).timestamp.encode(), json.dumps(text, ensure_ascii=False)[1:-1].encode()
    )
