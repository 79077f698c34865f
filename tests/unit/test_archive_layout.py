"""Archive layout: file names, deterministic Parquet bytes, records round trip."""

from __future__ import annotations

import base64

import pyarrow as pa
import pytest

from cosmic_horizons.archiver.fileformat import (
    ARCHIVE_SCHEMA,
    ArchivedRecord,
    ArchiveFile,
    decode_parquet,
    encode_parquet,
    file_path,
    parse_path,
    records_from_table,
    table_from_records,
)
from cosmic_horizons.errors import ArchiveError
from tests.helpers import make_packet

TS_2026_11_27_2359 = 1_795_823_999_000  # 2026-11-27T23:59:59Z


def _records(
    n: int, *, topic: str = "element.raw_data", partition: int = 0
) -> list[ArchivedRecord]:
    out = []
    for i in range(n):
        chunk = base64.b64encode(bytes([i % 256]) * (i % 7)).decode() if i % 3 else None
        out.append(
            ArchivedRecord(
                topic=topic,
                partition=partition,
                offset=1000 + 2 * i,  # gaps: dead letters in between
                kafka_timestamp_ms=TS_2026_11_27_2359 + i,
                key=None if i == 1 else f"element-{i}".encode(),
                packet=make_packet(i, chunk=chunk),
            )
        )
    return out


def test_file_path_matches_the_documented_example() -> None:
    path = file_path("element.raw_data", 0, 1000, 1999, TS_2026_11_27_2359)
    assert path == (
        "element.raw_data/date=2026-11-27/"
        "element.raw_data+0+00000000000000001000-00000000000000001999.parquet"
    )


def test_file_path_date_is_utc_of_first_record() -> None:
    # one millisecond later it is the next UTC day
    assert "/date=2026-11-28/" in file_path("t", 3, 0, 0, TS_2026_11_27_2359 + 1000)


def test_file_path_date_of_a_record_time_past_year_9999() -> None:
    # Kafka takes any int64 record time; the folder must still be a date.
    assert "/date=9999-12-31/" in file_path("t", 0, 0, 0, 253_402_300_800_000)
    assert "/date=9999-12-31/" in file_path("t", 0, 0, 0, 2**63 - 1)


@pytest.mark.parametrize(
    ("topic", "partition", "start", "end"),
    [("element.raw_data", 0, 0, 0), ("a_b-c.d", 17, 123, 456_789), ("x", 2, 10**19, 10**19 + 5)],
)
def test_parse_path_round_trips(topic: str, partition: int, start: int, end: int) -> None:
    path = file_path(topic, partition, start, end, TS_2026_11_27_2359)
    parsed = parse_path(path)
    assert parsed == ArchiveFile(
        path=path,
        topic=topic,
        partition=partition,
        start_offset=start,
        end_offset=end,
        date="2026-11-27",
    )
    assert parsed.offsets == end - start + 1
    assert parse_path("some/root/" + path) == parsed


@pytest.mark.parametrize(
    "path",
    [
        "element.raw_data+0+00000000000000001000-00000000000000001999.parquet",  # no folders
        "t/date=2026-11-27/t+0+0000000000000000001-00000000000000000002.parquet",  # 19 digits
        "t/date=2026-11-27/t+0+00000000000000000002-00000000000000000001.parquet",  # end < start
        "t/date=2026-11-27/u+0+00000000000000000001-00000000000000000002.parquet",  # other topic
        "t/day=2026-11-27/t+0+00000000000000000001-00000000000000000002.parquet",
        "t/date=2026-11-27/.t+0+00000000000000000001-00000000000000000002.parquet.ab12.tmp",
        "t/date=2026-11-27/t+0+00000000000000000001-00000000000000000002.json",
    ],
)
def test_parse_path_rejects_what_is_not_an_archive_file(path: str) -> None:
    assert parse_path(path) is None


def test_table_has_the_archive_schema() -> None:
    table = table_from_records(_records(5))
    assert table.schema.equals(ARCHIVE_SCHEMA, check_metadata=False)
    assert table.num_rows == 5
    assert table.column("kafka_timestamp").type == pa.timestamp("ms", tz="UTC")
    assert table.column("data_chunk").to_pylist()[2] == bytes([2]) * 2  # decoded, not base64


def test_records_round_trip_every_field_through_parquet() -> None:
    records = _records(50)
    back = list(records_from_table(decode_parquet(encode_parquet(table_from_records(records)))))
    assert back == records


def test_url_safe_chunk_comes_back_as_standard_base64() -> None:
    raw = bytes([0xFB, 0xFF, 0xBF])
    rec = ArchivedRecord(
        "t", 0, 0, 0, b"k", make_packet(1, chunk=base64.urlsafe_b64encode(raw).decode())
    )
    (back,) = records_from_table(table_from_records([rec]))
    assert back.packet.data_chunk == base64.b64encode(raw).decode()
    assert back.packet.chunk() == raw


def test_parquet_bytes_are_deterministic() -> None:
    first = encode_parquet(table_from_records(_records(200)))
    second = encode_parquet(table_from_records(_records(200)))
    assert first == second
    assert encode_parquet(table_from_records(_records(199))) != first


def test_empty_range_encodes_an_empty_file() -> None:
    data = encode_parquet(table_from_records([]))
    table = decode_parquet(data)
    assert table.num_rows == 0
    assert table.schema.equals(ARCHIVE_SCHEMA, check_metadata=False)


def test_file_names_its_format_and_uses_zstd() -> None:
    import pyarrow.parquet as pq

    data = encode_parquet(table_from_records(_records(3)))
    meta = pq.ParquetFile(pa.BufferReader(data)).metadata
    assert meta.metadata[b"cosmic_horizons.archive_format"] == b"1"
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_corrupt_parquet_is_an_archive_error() -> None:
    with pytest.raises(ArchiveError, match="not a readable Parquet file"):
        decode_parquet(b"PAR1 this is not parquet")
