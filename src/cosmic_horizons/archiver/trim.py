"""Trimming a topic to what the archive holds (``horizons topics trim NAME --archived``).

For each partition the plan finds the highest offset up to which the archive is contiguous
from the partition's current log start, and advances the log start just past it with
DeleteRecords. It never goes past a gap in the archive, past the archive's end, or past the
partition's high watermark; a partition whose log start the archive does not hold stays as
it is. This replaces the spec's ``rm -f`` of segment files: the broker deletes whole
segments itself once the log start has moved past them, and consumers see a consistent log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import msgspec
from confluent_kafka import TopicPartition
from confluent_kafka.admin._listoffsets import OffsetSpec

from ..cluster import make_admin
from ..config import KafkaSettings
from ..errors import ArchiveError, TopicError, kafka_errors
from ..topics.admin import delete_records_before
from .fileformat import ArchiveFile
from .identity import check_incarnation, live_topic_id
from .reader import describe_file
from .storage import ArchiveStorage

__all__ = [
    "PartitionTrim",
    "TrimPlan",
    "apply_trim",
    "check_same_topic",
    "footer_check",
    "partition_offsets",
    "plan_trim",
]


class PartitionTrim(msgspec.Struct, frozen=True, kw_only=True):
    """One partition's part of the plan: log start now, and where it may move to."""

    partition: int
    log_start: int
    high_watermark: int
    new_log_start: int
    reason: str
    """Why the new log start is where it is (gap, archive end, whole log archived...)."""

    @property
    def deletes(self) -> int:
        """How many offsets the move removes from the log."""
        return self.new_log_start - self.log_start

    @property
    def changes(self) -> bool:
        return self.new_log_start > self.log_start


class TrimPlan(msgspec.Struct, frozen=True, kw_only=True):
    """Per-partition log-start moves for one topic."""

    topic: str
    partitions: list[PartitionTrim]

    @property
    def moves(self) -> dict[int, int]:
        """``{partition: new log start}`` for the partitions that change."""
        return {p.partition: p.new_log_start for p in self.partitions if p.changes}

    @property
    def deletes(self) -> int:
        return sum(p.deletes for p in self.partitions)


def _plan_partition(
    partition: int,
    log_start: int,
    high: int,
    files: list[ArchiveFile],
    check: Callable[[ArchiveFile], str | None] | None,
) -> PartitionTrim:
    def result(new: int, reason: str) -> PartitionTrim:
        return PartitionTrim(
            partition=partition,
            log_start=log_start,
            high_watermark=high,
            new_log_start=new,
            reason=reason,
        )

    if high <= log_start:
        return result(log_start, "the partition holds no records")
    if not files:
        return result(log_start, "nothing of this partition is archived")
    files.sort(key=lambda f: (f.start_offset, f.end_offset))
    needed = log_start  # the next offset the archive must hold
    stopped: str | None = None
    for f in files:
        if needed >= high:
            break
        if f.end_offset < needed:
            continue  # wholly before the log start (already trimmed)
        if f.start_offset > needed:
            stopped = (
                f"the archive does not hold offsets {needed}-{f.start_offset - 1} "
                f"(next file {f.path})"
            )
            if needed == log_start and f is files[0]:
                stopped = (
                    f"the archive starts at offset {f.start_offset}, after the log start; "
                    f"offsets {log_start}-{f.start_offset - 1} are not archived"
                )
            break
        problem = check(f) if check is not None else None
        if problem is not None:
            stopped = f"{f.path} cannot be trusted: {problem}"
            break
        needed = f.end_offset + 1
    if needed >= high:
        return result(high, f"every record up to the high watermark {high} is archived")
    if stopped is None:
        if needed == log_start:
            stopped = f"the archive ends at offset {files[-1].end_offset}, before the log start"
        else:
            stopped = f"the archive ends at offset {needed - 1}"
    return result(needed, stopped)


def plan_trim(
    topic: str,
    files: Iterable[ArchiveFile],
    log_start: Mapping[int, int],
    high_watermark: Mapping[int, int],
    *,
    check: Callable[[ArchiveFile], str | None] | None = None,
) -> TrimPlan:
    """The log-start moves that delete only archived records, contiguously from the start.

    ``log_start`` and ``high_watermark`` are the partitions' earliest and latest offsets.
    Files of other topics are ignored. ``check(file)`` may name a problem with a file the
    plan would rely on (unreadable, too many rows); the plan then stops before that file.
    """
    by_partition: dict[int, list[ArchiveFile]] = {p: [] for p in log_start}
    for f in files:
        if f.topic == topic and f.partition in by_partition:
            by_partition[f.partition].append(f)
    return TrimPlan(
        topic=topic,
        partitions=[
            _plan_partition(
                p, log_start[p], high_watermark.get(p, log_start[p]), by_partition[p], check
            )
            for p in sorted(log_start)
        ],
    )


def footer_check(
    storage: ArchiveStorage, topic_id: str | None = None
) -> Callable[[ArchiveFile], str | None]:
    """A ``check`` for :func:`plan_trim`: the file's Parquet footer must be readable, its
    row count no larger than its offset range, and its topic id (when both are known)
    ``topic_id``, the live topic's."""

    def check(file: ArchiveFile) -> str | None:
        try:
            info = describe_file(storage, file)
        except ArchiveError as exc:
            return str(exc)
        if info.rows > file.offsets:
            return f"{info.rows} rows for a range of {file.offsets} offsets"
        if topic_id and info.topic_id and info.topic_id != topic_id:
            return (
                f"it holds another incarnation of the topic (topic id {info.topic_id}; "
                f"the live topic's is {topic_id})"
            )
        return None

    return check


# -- the broker side ---------------------------------------------------------------------


def partition_offsets(
    settings: KafkaSettings, topic: str, *, timeout: float = 10.0
) -> tuple[dict[int, int], dict[int, int]]:
    """``(earliest, latest)`` offsets of every partition of ``topic``."""
    admin = make_admin(settings, timeout_ms=int(timeout * 1000))
    with kafka_errors("Metadata", topic, client=admin, bootstrap=settings.bootstrap_servers):
        # All topics: asking for one by name makes some brokers auto-create it.
        metadata = admin.list_topics(timeout=timeout)
    described = metadata.topics.get(topic)
    if described is None or described.error is not None or not described.partitions:
        reason = described.error.str() if described is not None and described.error else ""
        raise TopicError(
            f"topic {topic!r} does not exist" + (f" ({reason})" if reason else ""),
            code="UNKNOWN_TOPIC_OR_PART",
        )
    partitions = sorted(described.partitions)
    out: list[dict[int, int]] = []
    # OffsetSpec's factories lack annotations in confluent-kafka's stubs.
    specs = (OffsetSpec.earliest(), OffsetSpec.latest())  # type: ignore[no-untyped-call]
    for spec in specs:
        futures = admin.list_offsets(
            {TopicPartition(topic, p): spec for p in partitions}, request_timeout=timeout
        )
        found: dict[int, int] = {}
        for tp, future in futures.items():
            with kafka_errors("ListOffsets", topic):
                found[tp.partition] = int(future.result(timeout=timeout + 5).offset)
        out.append(found)
    return out[0], out[1]


def check_same_topic(
    settings: KafkaSettings,
    storage: ArchiveStorage,
    topic: str,
    files: Iterable[ArchiveFile],
    *,
    timeout: float = 10.0,
) -> str | None:
    """The live topic id of ``topic`` (None: the broker has none), after checking that the
    newest archived file of each partition was read from it.

    Raises :class:`ArchiveIntegrityError` when the archive holds another incarnation of ``topic``
    (it was deleted and created again): its offsets say nothing about the live topic.
    """
    admin = make_admin(settings, timeout_ms=int(timeout * 1000))
    live = live_topic_id(admin, topic, timeout=timeout)
    try:
        check_incarnation(storage, topic, live, files)
    except ArchiveError as exc:  # the same kind (integrity or storage), said of the trim
        raise type(exc)(f"{exc}; nothing was trimmed") from exc
    return live


def apply_trim(settings: KafkaSettings, plan: TrimPlan, *, timeout: float = 30.0) -> dict[int, int]:
    """Carry out ``plan`` (only the partitions that move); the new log starts.

    Raises :class:`~cosmic_horizons.errors.UnsupportedByBrokerError` where the broker lacks
    DeleteRecords; nothing is changed then.
    """
    return delete_records_before(settings, plan.topic, plan.moves, timeout=timeout)
