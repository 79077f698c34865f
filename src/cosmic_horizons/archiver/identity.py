"""The topic's incarnation: archive files carry the Kafka topic id they were read from.

A topic deleted and created again under the same name starts its offsets at 0 again. Its
archive from the old incarnation would then make the archiver skip the new low offsets
(they look archived) and let ``topics trim --archived`` delete records nobody archived.
Each file therefore records the topic id in its Parquet key-value metadata, and the
archiver (on partition assignment) and trim compare the newest file of each partition with
the live topic id: one footer read per partition. Files without an id (older archives) and
brokers without topic ids skip the check.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka import KafkaException, TopicCollection

from ..errors import ArchiveIntegrityError, UnsupportedByBrokerError, from_kafka_error
from .fileformat import TOPIC_ID_KEY, ArchiveFile
from .reader import open_file
from .storage import ArchiveStorage

__all__ = [
    "IncarnationError",
    "archived_topic_id",
    "check_incarnation",
    "incarnation_problem",
    "live_topic_id",
    "newest_files",
]


class IncarnationError(ArchiveIntegrityError):
    """The archive holds files of another incarnation of the topic: refused, for safety."""


log = logging.getLogger(__name__)

#: The all-zero Uuid in Kafka's base64 form: "no id" (a broker without topic ids).
_ZERO_ID: Final = "AAAAAAAAAAAAAAAAAAAAAA"


def live_topic_id(admin: Any, topic: str, *, timeout: float = 10.0) -> str | None:
    """The Kafka topic id of ``topic`` (base64, as Kafka prints it), None when the broker
    has no topic ids. ``admin`` is a confluent-kafka AdminClient."""
    try:
        future = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout)[topic]
        described = future.result(timeout=timeout + 5)
    except KafkaException as exc:
        err = from_kafka_error(exc, operation="DescribeTopics", target=topic)
        if isinstance(err, UnsupportedByBrokerError):
            log.debug(
                "%s: the broker reports no topic ids (%s); incarnation not checked", topic, err
            )
            return None
        raise err from exc
    uid = described.topic_id
    if uid is None or (
        uid.get_most_significant_bits() == 0 and uid.get_least_significant_bits() == 0
    ):
        log.debug("%s: the broker reports no topic id; incarnation not checked", topic)
        return None
    text = str(uid)
    return None if text == _ZERO_ID else text


def archived_topic_id(storage: ArchiveStorage, file: ArchiveFile) -> str | None:
    """The topic id stored in ``file``'s footer (None for files written without one)."""
    try:
        with open_file(storage, file.path) as handle:
            meta = pq.ParquetFile(handle).metadata.metadata or {}
    except (pa.ArrowException, OSError) as exc:
        raise ArchiveIntegrityError(f"{file.path}: not a readable Parquet file: {exc}") from exc
    value = meta.get(TOPIC_ID_KEY.encode())
    return value.decode() if value else None


def newest_files(files: Iterable[ArchiveFile]) -> dict[int, ArchiveFile]:
    """Each partition's file with the highest offsets."""
    newest: dict[int, ArchiveFile] = {}
    for f in files:
        best = newest.get(f.partition)
        if best is None or (f.end_offset, f.start_offset) > (best.end_offset, best.start_offset):
            newest[f.partition] = f
    return newest


def incarnation_problem(
    topic: str, live_id: str | None, archived_id: str | None, file: ArchiveFile, storage_url: str
) -> str | None:
    """Why the archive cannot be continued for the live topic (None: it can)."""
    if live_id is None or archived_id is None or live_id == archived_id:
        return None
    return (
        f"the archive at {storage_url} holds {topic} partition {file.partition} from another "
        f"incarnation of the topic: {file.path} has topic id {archived_id}, the live topic "
        f"has id {live_id} (the topic was deleted and created again, and its offsets started "
        "over). Move the old incarnation's files out of "
        f"{storage_url.rstrip('/')}/{topic}/ or use another --storage"
    )


def check_incarnation(
    storage: ArchiveStorage,
    topic: str,
    live_id: str | None,
    files: Iterable[ArchiveFile],
    partitions: Iterable[int] | None = None,
) -> None:
    """Raise :class:`ArchiveIntegrityError` when the newest archived file of a partition (of
    ``partitions``, default all) was read from another incarnation of ``topic``."""
    if live_id is None:
        log.debug("%s: no live topic id; incarnation not checked", topic)
        return
    newest = newest_files(f for f in files if f.topic == topic)
    wanted = sorted(newest) if partitions is None else sorted(set(partitions) & set(newest))
    for p in wanted:
        file = newest[p]
        archived = archived_topic_id(storage, file)
        if archived is None:
            log.debug("%s has no topic id (an older archive); incarnation not checked", file.path)
            continue
        problem = incarnation_problem(topic, live_id, archived, file, storage.url)
        if problem is not None:
            raise IncarnationError(problem)
