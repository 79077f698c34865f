"""Checking the archive against itself: offset ranges per partition, and each file's rows.

Between a partition's first and last archived offsets every offset must be in exactly one
file: an offset in no file is a *gap*, an offset in two files an *overlap*. Inside a file,
every row's offset must lie in the file's range, rows must be sorted by offset, no offset may
repeat, and the rows' topic and partition must be the ones the file name says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import msgspec
import pyarrow as pa

from ..errors import ArchiveError
from .fileformat import ArchiveFile
from .reader import read_table
from .storage import ArchiveStorage

__all__ = [
    "FileProblem",
    "Gap",
    "Overlap",
    "PartitionReport",
    "VerifyReport",
    "check_file_rows",
    "check_ranges",
    "verify_archive",
]

#: How many offending offsets a problem lists before it says "and N more".
SHOWN: int = 5


class Gap(msgspec.Struct, frozen=True, kw_only=True):
    """Offsets ``first..last`` (inclusive) are in no file."""

    topic: str
    partition: int
    first: int
    last: int
    after: str
    """The file that ends just before the gap."""
    before: str
    """The file that starts just after it."""

    @property
    def count(self) -> int:
        return self.last - self.first + 1


class Overlap(msgspec.Struct, frozen=True, kw_only=True):
    """Offsets ``first..last`` (inclusive) are in both ``file_a`` and ``file_b``."""

    topic: str
    partition: int
    first: int
    last: int
    file_a: str
    file_b: str

    @property
    def count(self) -> int:
        return self.last - self.first + 1


class FileProblem(msgspec.Struct, frozen=True, kw_only=True):
    """Something wrong inside one file; ``kind`` is a short name, ``detail`` says what."""

    path: str
    kind: str
    detail: str


class PartitionReport(msgspec.Struct, frozen=True, kw_only=True):
    """One partition's ranges: files, first and last archived offsets, gaps and overlaps."""

    topic: str
    partition: int
    files: int
    first_offset: int
    last_offset: int
    gaps: list[Gap]
    overlaps: list[Overlap]

    @property
    def ok(self) -> bool:
        return not self.gaps and not self.overlaps


class VerifyReport(msgspec.Struct, frozen=True, kw_only=True):
    """The whole verification; ``ok`` when nothing at all is wrong."""

    storage: str
    files: int
    rows: int
    partitions: list[PartitionReport]
    file_problems: list[FileProblem]

    @property
    def gaps(self) -> list[Gap]:
        return [g for p in self.partitions for g in p.gaps]

    @property
    def overlaps(self) -> list[Overlap]:
        return [o for p in self.partitions for o in p.overlaps]

    @property
    def ok(self) -> bool:
        return not self.file_problems and all(p.ok for p in self.partitions)


def check_ranges(files: Iterable[ArchiveFile]) -> list[PartitionReport]:
    """Gaps and overlaps of the files' offset ranges, per topic and partition."""
    groups: dict[tuple[str, int], list[ArchiveFile]] = {}
    for f in files:
        groups.setdefault((f.topic, f.partition), []).append(f)
    reports = []
    for (topic, partition), members in sorted(groups.items()):
        members.sort(key=lambda f: (f.start_offset, f.end_offset, f.path))
        gaps: list[Gap] = []
        overlaps: list[Overlap] = []
        reach = members[0]  # the file reaching furthest so far
        for f in members[1:]:
            covered = reach.end_offset
            if f.start_offset > covered + 1:
                gaps.append(
                    Gap(
                        topic=topic,
                        partition=partition,
                        first=covered + 1,
                        last=f.start_offset - 1,
                        after=reach.path,
                        before=f.path,
                    )
                )
            elif f.start_offset <= covered:
                overlaps.append(
                    Overlap(
                        topic=topic,
                        partition=partition,
                        first=f.start_offset,
                        last=min(f.end_offset, covered),
                        file_a=reach.path,
                        file_b=f.path,
                    )
                )
            if f.end_offset > covered:
                reach = f
        reports.append(
            PartitionReport(
                topic=topic,
                partition=partition,
                files=len(members),
                first_offset=members[0].start_offset,
                last_offset=max(f.end_offset for f in members),
                gaps=gaps,
                overlaps=overlaps,
            )
        )
    return reports


def _listed(values: Sequence[int]) -> str:
    shown = ", ".join(str(v) for v in values[:SHOWN])
    more = len(values) - SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def check_file_rows(
    file: ArchiveFile,
    offsets: Sequence[int],
    *,
    topics: Sequence[str] = (),
    partitions: Sequence[int] = (),
) -> list[FileProblem]:
    """Problems of one file's rows: offsets outside its range, unsorted, repeated; rows of
    another topic or partition than the file name says."""
    problems = []
    outside = [o for o in offsets if not file.start_offset <= o <= file.end_offset]
    if outside:
        problems.append(
            FileProblem(
                path=file.path,
                kind="offset-outside-range",
                detail=f"{len(outside)} row(s) with offsets outside "
                f"{file.start_offset}-{file.end_offset}: {_listed(outside)}",
            )
        )
    unsorted = [i for i in range(1, len(offsets)) if offsets[i] < offsets[i - 1]]
    if unsorted:
        i = unsorted[0]
        problems.append(
            FileProblem(
                path=file.path,
                kind="unsorted",
                detail=f"rows not in offset order: offset {offsets[i]} (row {i}) follows "
                f"offset {offsets[i - 1]} (row {i - 1}); {len(unsorted)} such place(s)",
            )
        )
    seen: set[int] = set()
    repeated: list[int] = []
    for o in offsets:
        if o in seen:
            repeated.append(o)
        seen.add(o)
    if repeated:
        problems.append(
            FileProblem(
                path=file.path,
                kind="duplicate-offset",
                detail=f"{len(set(repeated))} offset(s) in more than one row "
                f"({len(repeated)} extra row(s)): {_listed(sorted(set(repeated)))}",
            )
        )
    other_topics = sorted({t for t in topics if t != file.topic})
    if other_topics:
        problems.append(
            FileProblem(
                path=file.path,
                kind="wrong-topic",
                detail=f"rows of topic(s) {', '.join(other_topics)} in a file of {file.topic}",
            )
        )
    other_partitions = sorted({p for p in partitions if p != file.partition})
    if other_partitions:
        problems.append(
            FileProblem(
                path=file.path,
                kind="wrong-partition",
                detail=f"rows of partition(s) {_listed(other_partitions)} in a file of "
                f"partition {file.partition}",
            )
        )
    return problems


_COLUMNS = ("kafka_topic", "kafka_partition", "kafka_offset")


def _file_rows(storage: ArchiveStorage, file: ArchiveFile) -> tuple[int, list[FileProblem]]:
    try:
        table = read_table(storage, file.path, columns=_COLUMNS)
    except ArchiveError as exc:
        return 0, [FileProblem(path=file.path, kind="unreadable", detail=str(exc))]
    missing = [c for c in _COLUMNS if c not in table.column_names]
    if missing:
        return table.num_rows, [
            FileProblem(
                path=file.path,
                kind="not-an-archive-file",
                detail=f"column(s) {', '.join(missing)} missing",
            )
        ]
    offsets = table.column("kafka_offset").cast(pa.int64()).to_pylist()
    topics = table.column("kafka_topic").unique().to_pylist()
    partitions = table.column("kafka_partition").unique().to_pylist()
    return table.num_rows, check_file_rows(file, offsets, topics=topics, partitions=partitions)


def verify_archive(
    storage: ArchiveStorage,
    *,
    topic: str | None = None,
    on_file: Callable[[ArchiveFile], None] | None = None,
) -> VerifyReport:
    """Verify the archive (or one topic of it): ranges per partition and every file's rows.

    ``on_file`` is called before each file is read (for progress).
    """
    files = storage.list_files(topic)
    problems: list[FileProblem] = []
    rows = 0
    for f in files:
        if on_file is not None:
            on_file(f)
        count, found = _file_rows(storage, f)
        rows += count
        problems.extend(found)
    return VerifyReport(
        storage=storage.url,
        files=len(files),
        rows=rows,
        partitions=check_ranges(files),
        file_problems=problems,
    )
