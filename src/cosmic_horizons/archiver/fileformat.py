"""The archive's file format: Parquet schema, file naming, and records <-> tables.

One archive file holds the packets of one partition's offset range::

    {topic}/date={YYYY-MM-DD}/{topic}+{partition}+{start:020d}-{end:020d}.parquet

``date`` is the UTC date of the Kafka timestamp of the range's first record. The range
covers every offset consumed for it, including records sent to the dead-letter topic, so a
file may hold fewer rows than its range is long (even none). Names and content depend only
on the records, so writing the same offsets again gives the same file, byte for byte.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ArchiveIntegrityError
from ..packet import KafkaPayload, Metrics, chunk_bytes

__all__ = [
    "ARCHIVE_SCHEMA",
    "FORMAT_VERSION",
    "TOPIC_ID_KEY",
    "ArchiveFile",
    "ArchivedRecord",
    "RowBuffer",
    "date_of_ms",
    "decode_parquet",
    "encode_parquet",
    "file_path",
    "parse_path",
    "records_from_table",
    "table_from_records",
]

#: Stored in each file's key-value metadata; bump on incompatible schema changes.
FORMAT_VERSION: Final = "1"
#: Key-value metadata key of the Kafka topic id (the topic's incarnation) of a file's records.
TOPIC_ID_KEY: Final = "cosmic_horizons.topic_id"

ARCHIVE_SCHEMA: Final = pa.schema(
    [
        pa.field("kafka_topic", pa.string(), nullable=False),
        pa.field("kafka_partition", pa.int32(), nullable=False),
        pa.field("kafka_offset", pa.int64(), nullable=False),
        pa.field("kafka_timestamp", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("kafka_key", pa.binary(), nullable=True),
        pa.field("sourceId", pa.string(), nullable=False),
        pa.field("targetId", pa.string(), nullable=False),
        pa.field("routeType", pa.string(), nullable=False),
        pa.field("elementId", pa.string(), nullable=False),
        pa.field("siteId", pa.string(), nullable=False),
        pa.field("timestamp", pa.string(), nullable=False),
        pa.field("vibration", pa.float64(), nullable=False),
        pa.field("powerUsage", pa.float64(), nullable=False),
        pa.field("noiseFloor", pa.float64(), nullable=False),
        pa.field("rfiLevel", pa.float64(), nullable=False),
        pa.field("data_chunk", pa.binary(), nullable=True),
    ],
    metadata={"cosmic_horizons.archive_format": FORMAT_VERSION},
)

_NAME = re.compile(
    r"^(?P<topic>[A-Za-z0-9._-]+)\+(?P<partition>\d+)\+(?P<start>\d{20})-(?P<end>\d{20})\.parquet$"
)
_DATE_DIR = re.compile(r"^date=(?P<date>\d{4}-\d{2}-\d{2})$")


#: Epoch milliseconds of the last instant a date can name (9999-12-31T23:59:59.999Z).
_LAST_DATE_MS: Final = 253_402_300_799_999


def date_of_ms(ms: int) -> str:
    """The UTC date (``YYYY-MM-DD``) of a Unix epoch milliseconds timestamp.

    Kafka takes any int64 record time: times after year 9999 give ``9999-12-31``, times
    before 1970 ``1970-01-01``.
    """
    ms = min(max(ms, 0), _LAST_DATE_MS)
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    """One archive file: where it is (relative to the storage root) and what it covers."""

    path: str
    topic: str
    partition: int
    start_offset: int
    end_offset: int
    """Inclusive."""
    date: str

    @property
    def offsets(self) -> int:
        """How many offsets the file's range spans."""
        return self.end_offset - self.start_offset + 1


def file_path(topic: str, partition: int, start: int, end: int, first_record_ms: int) -> str:
    """The archive path of ``topic``'s ``partition`` range ``start..end`` (inclusive)."""
    date = date_of_ms(first_record_ms)
    return f"{topic}/date={date}/{topic}+{partition}+{start:020d}-{end:020d}.parquet"


def parse_path(path: str) -> ArchiveFile | None:
    """The :class:`ArchiveFile` named by ``path``, or None when it is not an archive file.

    Leading folders before ``{topic}/date=.../`` are ignored; the returned ``path`` is the
    canonical one relative to the storage root.
    """
    parts = path.replace("\\", "/").rstrip("/").split("/")
    if len(parts) < 3:
        return None
    topic_dir, date_dir, name = parts[-3:]
    match = _NAME.match(name)
    date_match = _DATE_DIR.match(date_dir)
    if match is None or date_match is None or match["topic"] != topic_dir:
        return None
    start, end = int(match["start"]), int(match["end"])
    if end < start:
        return None
    return ArchiveFile(
        path=f"{topic_dir}/{date_dir}/{name}",
        topic=topic_dir,
        partition=int(match["partition"]),
        start_offset=start,
        end_offset=end,
        date=date_match["date"],
    )


@dataclass(frozen=True, slots=True)
class ArchivedRecord:
    """One archived packet with the Kafka coordinates it was read from."""

    topic: str
    partition: int
    offset: int
    kafka_timestamp_ms: int
    key: bytes | None
    packet: KafkaPayload


class RowBuffer:
    """Column lists that archived packets are appended to, then turned into one table."""

    __slots__ = (
        "chunk",
        "element",
        "key",
        "noise",
        "offset",
        "partition",
        "power",
        "rfi",
        "route",
        "site",
        "source",
        "target",
        "timestamp",
        "topic",
        "ts_ms",
        "vibration",
    )

    def __init__(self) -> None:
        self.topic: list[str] = []
        self.partition: list[int] = []
        self.offset: list[int] = []
        self.ts_ms: list[int] = []
        self.key: list[bytes | None] = []
        self.source: list[str] = []
        self.target: list[str] = []
        self.route: list[str] = []
        self.element: list[str] = []
        self.site: list[str] = []
        self.timestamp: list[str] = []
        self.vibration: list[float] = []
        self.power: list[float] = []
        self.noise: list[float] = []
        self.rfi: list[float] = []
        self.chunk: list[bytes | None] = []

    def __len__(self) -> int:
        return len(self.offset)

    def append(
        self,
        topic: str,
        partition: int,
        offset: int,
        ts_ms: int,
        key: bytes | None,
        packet: KafkaPayload,
    ) -> None:
        """Add one packet as one row."""
        self.topic.append(topic)
        self.partition.append(partition)
        self.offset.append(offset)
        self.ts_ms.append(ts_ms)
        self.key.append(key)
        self.source.append(packet.source_id)
        self.target.append(packet.target_id)
        self.route.append(packet.route_type)
        self.element.append(packet.element_id)
        self.site.append(packet.site_id)
        self.timestamp.append(packet.timestamp)
        m = packet.metrics
        self.vibration.append(float(m.vibration))
        self.power.append(float(m.power_usage))
        self.noise.append(float(m.noise_floor))
        self.rfi.append(float(m.rfi_level))
        self.chunk.append(packet.chunk())

    def to_table(self) -> pa.Table:
        """The rows as a table with :data:`ARCHIVE_SCHEMA`."""
        s = ARCHIVE_SCHEMA
        columns = [
            self.topic,
            self.partition,
            self.offset,
            self.ts_ms,
            self.key,
            self.source,
            self.target,
            self.route,
            self.element,
            self.site,
            self.timestamp,
            self.vibration,
            self.power,
            self.noise,
            self.rfi,
            self.chunk,
        ]
        arrays = [pa.array(col, type=s.field(i).type) for i, col in enumerate(columns)]
        return pa.Table.from_arrays(arrays, schema=s)


def table_from_records(records: Iterable[ArchivedRecord]) -> pa.Table:
    """The records as one table with :data:`ARCHIVE_SCHEMA`, in the order given."""
    rows = RowBuffer()
    for r in records:
        rows.append(r.topic, r.partition, r.offset, r.kafka_timestamp_ms, r.key, r.packet)
    return rows.to_table()


def records_from_table(table: pa.Table) -> Iterator[ArchivedRecord]:
    """The table's rows as records; ``data_chunk`` comes back as standard base64."""
    table = table.select(ARCHIVE_SCHEMA.names)
    ts = table.column("kafka_timestamp").cast(pa.int64()).to_pylist()
    cols: dict[str, list[Any]] = {
        name: table.column(name).to_pylist()
        for name in ARCHIVE_SCHEMA.names
        if name != "kafka_timestamp"
    }
    for i in range(table.num_rows):
        chunk = cols["data_chunk"][i]
        packet = KafkaPayload(
            source_id=cols["sourceId"][i],
            target_id=cols["targetId"][i],
            route_type=cols["routeType"][i],
            element_id=cols["elementId"][i],
            site_id=cols["siteId"][i],
            timestamp=cols["timestamp"][i],
            metrics=Metrics(
                vibration=cols["vibration"][i],
                power_usage=cols["powerUsage"][i],
                noise_floor=cols["noiseFloor"][i],
                rfi_level=cols["rfiLevel"][i],
            ),
            data_chunk=None if chunk is None else chunk_bytes(chunk),
        )
        yield ArchivedRecord(
            topic=cols["kafka_topic"][i],
            partition=cols["kafka_partition"][i],
            offset=cols["kafka_offset"][i],
            kafka_timestamp_ms=ts[i],
            key=cols["kafka_key"][i],
            packet=packet,
        )


# Fixed writer options: the same rows always give the same bytes (the format's
# created_by names the pyarrow version, nothing in the file names the time of writing).
_WRITE_OPTIONS: Final[dict[str, Any]] = {
    "compression": "zstd",
    "compression_level": 1,
    "version": "2.6",
    "data_page_version": "1.0",
    "use_dictionary": ["kafka_topic", "routeType", "siteId", "targetId"],
    "write_statistics": True,
    "row_group_size": 64 * 1024,
    "store_schema": True,
}


def encode_parquet(table: pa.Table, *, topic_id: str | None = None) -> bytes:
    """The table as Parquet bytes; deterministic for the same rows (and pyarrow version).

    ``topic_id``, the Kafka id of the topic the rows were read from, goes into the file's
    key-value metadata under :data:`TOPIC_ID_KEY`.
    """
    if not table.schema.equals(ARCHIVE_SCHEMA, check_metadata=False):
        table = table.select(ARCHIVE_SCHEMA.names).cast(ARCHIVE_SCHEMA)
    metadata = dict(ARCHIVE_SCHEMA.metadata)
    if topic_id:
        metadata[TOPIC_ID_KEY.encode()] = topic_id.encode()
    table = table.replace_schema_metadata(metadata).combine_chunks()
    sink = io.BytesIO()
    pq.write_table(table, sink, **_WRITE_OPTIONS)
    return sink.getvalue()


def decode_parquet(data: bytes) -> pa.Table:
    """The table stored in Parquet ``data``; :class:`ArchiveError` when it is not readable."""
    try:
        return pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise ArchiveIntegrityError(f"not a readable Parquet file: {exc}") from exc
