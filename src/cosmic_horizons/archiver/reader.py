"""Reading the archive back: times, file listings with Parquet metadata, records in order.

Listing is cheap: row counts and record-time ranges come from each file's Parquet footer
(its statistics), not from its rows. Reading records streams one file at a time per
partition and merges partitions by record timestamp, so memory stays bounded by the
largest file whatever the window.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import IO, Any, Final

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._units import parse_duration
from ..errors import ArchiveError, ArchiveIntegrityError, ConfigError, StorageError
from .fileformat import (
    ARCHIVE_SCHEMA,
    TOPIC_ID_KEY,
    ArchivedRecord,
    ArchiveFile,
    records_from_table,
)
from .storage import ArchiveStorage

__all__ = [
    "FileInfo",
    "TimeWindow",
    "describe_file",
    "format_ms",
    "iter_records",
    "list_archive",
    "open_file",
    "parse_time",
    "read_table",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_RELATIVE: Final = re.compile(r"^\s*now\s*(?:(?P<sign>[+-])\s*(?P<dur>.+))?$", re.IGNORECASE)
#: Read-ahead block for object stores: a footer costs one small GET, not a 5 MB one.
_OBJECT_BLOCK: Final = 256 * 1024


# -- times -------------------------------------------------------------------------------


def _to_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def parse_time(text: str, *, now: datetime | None = None, what: str = "time") -> int:
    """Unix epoch milliseconds of ``text``.

    Accepted: an ISO 8601 date (``2026-11-27``, midnight UTC), an ISO 8601 date-time
    (``2026-11-27T12:00``, ``2026-11-27T12:00:00+01:00``; without a zone it is UTC),
    ``now``, and ``now-2h`` / ``now+30m`` / ``-7d`` (relative to now; units ms s m h d w).
    """
    value = text.strip()
    current = now or datetime.now(UTC)
    if value.startswith("-"):
        value = "now" + value
    match = _RELATIVE.match(value)
    if match:
        if match["sign"] is None:
            return _to_ms(current)
        seconds = parse_duration(match["dur"], what=what)
        delta = timedelta(seconds=seconds)
        return _to_ms(current - delta if match["sign"] == "-" else current + delta)
    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), time(0), tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{what}: {text!r} is not a time; use an ISO 8601 date or date-time "
            "(2026-11-27, 2026-11-27T12:00:00Z) or now-2h / -7d"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _to_ms(moment)


def format_ms(ms: int | None, *, millis: bool = True) -> str:
    """``2026-11-27T12:00:00.000Z`` (``...:00Z`` without ``millis``; ``-`` for None)."""
    if ms is None:
        return "-"
    try:
        moment = _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:  # Kafka record times may lie past year 9999
        return f"{ms} ms after 1970"
    if not millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class TimeWindow(msgspec.Struct, frozen=True):
    """Record times ``[start_ms, end_ms)``; None leaves that side open."""

    start_ms: int | None = None
    end_ms: int | None = None

    def __post_init__(self) -> None:
        if self.start_ms is not None and self.end_ms is not None and self.end_ms <= self.start_ms:
            raise ConfigError(
                f"empty time window: --to {format_ms(self.end_ms)} is not after "
                f"--from {format_ms(self.start_ms)}"
            )

    @classmethod
    def parse(
        cls, start: str | None, end: str | None, *, now: datetime | None = None
    ) -> TimeWindow:
        """The window between ``--from`` and ``--to`` texts (see :func:`parse_time`)."""
        moment = now or datetime.now(UTC)
        return cls(
            None if start is None else parse_time(start, now=moment, what="--from"),
            None if end is None else parse_time(end, now=moment, what="--to"),
        )

    @property
    def is_open(self) -> bool:
        return self.start_ms is None and self.end_ms is None

    def contains(self, ms: int) -> bool:
        return (self.start_ms is None or ms >= self.start_ms) and (
            self.end_ms is None or ms < self.end_ms
        )

    def overlaps(self, first_ms: int | None, last_ms: int | None) -> bool:
        """Whether records timed ``first_ms..last_ms`` (inclusive) may fall in the window."""
        if first_ms is None or last_ms is None:
            return True  # unknown range: look inside
        return (self.start_ms is None or last_ms >= self.start_ms) and (
            self.end_ms is None or first_ms < self.end_ms
        )


# -- files -------------------------------------------------------------------------------


class FileInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An archive file with what its footer says: rows, size, record-time range."""

    path: str
    topic: str
    partition: int
    start_offset: int
    end_offset: int
    date: str
    rows: int
    size_bytes: int
    first_record_ms: int | None
    """Smallest Kafka timestamp in the file (None when it has no rows)."""
    last_record_ms: int | None
    """Largest Kafka timestamp in the file."""
    topic_id: str | None = None
    """Kafka id of the topic the records were read from (None in older files)."""

    @property
    def file(self) -> ArchiveFile:
        return ArchiveFile(
            self.path, self.topic, self.partition, self.start_offset, self.end_offset, self.date
        )


def _full_path(storage: ArchiveStorage, relpath: str) -> str:
    root = storage.root.rstrip("/")
    return f"{root}/{relpath.lstrip('/')}"


def open_file(storage: ArchiveStorage, relpath: str) -> IO[bytes]:
    """A seekable binary file object for one archive file (read lazily)."""
    full = _full_path(storage, relpath)
    try:
        if storage.kind == "file":
            handle: IO[bytes] = storage.fs.open(full, "rb")
        else:
            handle = storage.fs.open(full, "rb", block_size=_OBJECT_BLOCK)
    except FileNotFoundError as exc:
        raise ArchiveError(f"{relpath} is not in the archive at {storage.url}") from exc
    except storage.errors as exc:
        raise StorageError(f"opening {relpath} in {storage.url} failed: {exc}") from exc
    return handle


def _stat_ms(value: Any) -> int | None:
    if isinstance(value, datetime):
        return _to_ms(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, int):
        return value
    return None


def _time_range(meta: Any, column: int) -> tuple[int | None, int | None]:
    """Min and max of the timestamp column from row-group statistics (None if unknown)."""
    lows: list[int] = []
    highs: list[int] = []
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        if group.num_rows == 0:
            continue
        stats = group.column(column).statistics
        if stats is None or not stats.has_min_max:
            return None, None
        try:
            low, high = _stat_ms(stats.min), _stat_ms(stats.max)
        except (OverflowError, ValueError):  # past year 9999: read the column instead
            return None, None
        if low is None or high is None:
            return None, None
        lows.append(low)
        highs.append(high)
    if not lows:
        return None, None
    return min(lows), max(highs)


def describe_file(storage: ArchiveStorage, file: ArchiveFile) -> FileInfo:
    """Row count, size and record-time range of ``file``, from its Parquet footer only."""
    try:
        with open_file(storage, file.path) as handle:
            size = int(handle.seek(0, 2))
            handle.seek(0)
            meta = pq.ParquetFile(handle).metadata
            rows = int(meta.num_rows)
            topic_id = (meta.metadata or {}).get(TOPIC_ID_KEY.encode())
            column = meta.schema.to_arrow_schema().get_field_index("kafka_timestamp")
            first, last = _time_range(meta, column) if column >= 0 else (None, None)
            if rows and column >= 0 and first is None:
                # no statistics: read the one column
                handle.seek(0)
                ts = pq.read_table(handle, columns=["kafka_timestamp"]).column(0)
                ints = ts.cast(pa.int64())
                first, last = pc.min(ints).as_py(), pc.max(ints).as_py()
    except (pa.ArrowException, *storage.errors) as exc:
        raise ArchiveIntegrityError(f"{file.path}: not a readable Parquet file: {exc}") from exc
    return FileInfo(
        path=file.path,
        topic=file.topic,
        partition=file.partition,
        start_offset=file.start_offset,
        end_offset=file.end_offset,
        date=file.date,
        rows=rows,
        size_bytes=size,
        first_record_ms=first if rows else None,
        last_record_ms=last if rows else None,
        topic_id=topic_id.decode() if topic_id else None,
    )


def list_archive(
    storage: ArchiveStorage,
    *,
    topic: str | None = None,
    window: TimeWindow | None = None,
    files: Sequence[ArchiveFile] | None = None,
) -> list[FileInfo]:
    """The archive's files (of ``topic``) whose records may fall in ``window``, described.

    With a window, a file is listed when its record-time range overlaps it; files with no
    rows (every record dead-lettered) are listed only without a window. The date in a
    file's path cannot prune: a late record (an earlier timestamp than the file's first)
    stays in the open file, so a file may hold records of days before its date.
    """
    chosen = list(storage.list_files(topic) if files is None else files)
    out: list[FileInfo] = []
    for f in chosen:
        info = describe_file(storage, f)
        if (
            window is not None
            and not window.is_open
            and (info.rows == 0 or not window.overlaps(info.first_record_ms, info.last_record_ms))
        ):
            continue
        out.append(info)
    return out


def read_table(
    storage: ArchiveStorage, relpath: str, *, columns: Sequence[str] | None = None
) -> pa.Table:
    """The rows of one archive file (only ``columns`` when given)."""
    try:
        with open_file(storage, relpath) as handle:
            return pq.read_table(handle, columns=list(columns) if columns else None)
    except (pa.ArrowException, *storage.errors) as exc:
        raise ArchiveIntegrityError(f"{relpath}: not a readable Parquet file: {exc}") from exc


# -- records -----------------------------------------------------------------------------


class ReadStats:
    """Counters of one read: files opened, rows matched, duplicate offsets skipped."""

    __slots__ = ("duplicates", "files", "rows")

    def __init__(self) -> None:
        self.files = 0
        self.rows = 0
        self.duplicates = 0


def _filtered(table: pa.Table, window: TimeWindow, elements: frozenset[str]) -> pa.Table:
    if table.num_rows == 0:
        return table
    mask = None
    ts = table.column("kafka_timestamp").cast(pa.int64())
    if window.start_ms is not None:
        mask = pc.greater_equal(ts, window.start_ms)
    if window.end_ms is not None:
        upper = pc.less(ts, window.end_ms)
        mask = upper if mask is None else pc.and_(mask, upper)
    if elements:
        chosen = pc.is_in(table.column("elementId"), value_set=pa.array(sorted(elements)))
        mask = chosen if mask is None else pc.and_(mask, chosen)
    if mask is not None:
        table = table.filter(mask)
    return table.sort_by("kafka_offset")


def _partition_records(
    storage: ArchiveStorage,
    files: Sequence[FileInfo],
    window: TimeWindow,
    elements: frozenset[str],
    stats: ReadStats,
) -> Iterator[ArchivedRecord]:
    """One partition's matching records in offset order, one file in memory at a time."""
    last_offset = -1
    for info in sorted(files, key=lambda f: (f.start_offset, f.end_offset)):
        table = read_table(storage, info.path, columns=ARCHIVE_SCHEMA.names)
        stats.files += 1
        for record in records_from_table(_filtered(table, window, elements)):
            if record.offset <= last_offset:
                stats.duplicates += 1  # the same offset in two overlapping files
                continue
            last_offset = record.offset
            stats.rows += 1
            yield record


def merge_partitions(
    streams: Mapping[int, Iterable[ArchivedRecord]],
) -> Iterator[ArchivedRecord]:
    """Records of several partitions as one stream.

    Each partition's own order (offsets) is kept; across partitions the next record is the
    one with the smallest (record timestamp, partition, offset) among the partitions' heads.
    """
    return heapq.merge(
        *(streams[p] for p in sorted(streams)),
        key=lambda r: (r.kafka_timestamp_ms, r.partition, r.offset),
    )


def iter_records(
    storage: ArchiveStorage,
    topic: str,
    window: TimeWindow,
    *,
    elements: Iterable[str] = (),
    stats: ReadStats | None = None,
    files: Sequence[FileInfo] | None = None,
) -> Iterator[ArchivedRecord]:
    """Archived records of ``topic`` timed within ``window``, in replay order.

    ``elements`` keeps only those element ids. Offsets found in two files (an overlap,
    which ``archive verify`` reports) are returned once.
    """
    wanted = frozenset(elements)
    counters = stats if stats is not None else ReadStats()
    chosen = list(list_archive(storage, topic=topic, window=window) if files is None else files)
    by_partition: dict[int, list[FileInfo]] = {}
    for info in chosen:
        if info.topic == topic and info.rows:
            by_partition.setdefault(info.partition, []).append(info)
    streams = {
        p: _partition_records(storage, fs, window, wanted, counters)
        for p, fs in by_partition.items()
    }
    return merge_partitions(streams)
