"""The archiver's consumer loop: a consumer group that writes partitions into Parquet files.

Exactly once, in effect, read in this module from top to bottom:

1. Assignment (:meth:`Archiver._on_assign`): the archive is the source of truth. A partition
   starts at its committed offset moved past every archived range that covers it; archived
   ranges further ahead become *fences*.
2. Reading (:meth:`Archiver._handle`): records go into the partition's open range
   (:class:`~.ranges.PartitionRanges`), which closes on record count, bytes or record time,
   never on wall-clock time (with ``flush_at_end`` also at the end of the partition). At a
   fence the range closes before it, the fence is skipped, and its end is committed once
   the ranges before it are stored.
3. Storing (:meth:`Archiver._store_next`), strictly in offset order: the closed range's dead
   letters are produced and flushed, then its Parquet file is stored atomically under a name
   derived from topic, partition and offsets, and only then is ``end + 1`` committed,
   synchronously. A crash between the write and the commit neither duplicates nor rewrites
   anything: the next owner's assignment (1) starts after the file.
4. Revocation and stop (:meth:`Archiver._on_revoke`): closed ranges are stored and committed
   first; the open range is dropped, not committed, and whoever reads the partition next
   builds the same ranges again.

With ``workers >= 1`` closed ranges are decoded and encoded in worker processes
(:mod:`.workers`) while the consumer reads on; storing and committing stay in this thread.

This module is longer than the project's ~400 lines on purpose: the four steps above stay in
one place so that the exactly-once argument reads in order; everything else (ranges, records,
consumer settings, dead letters, stats, workers, file format) lives beside it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaException, Message, TopicPartition
from confluent_kafka import KafkaError as RdKafkaError

from .. import clients
from ..acls import lacking
from ..cluster import make_admin
from ..config import KafkaSettings, mask_config
from ..errors import (
    AuthorizationError,
    ConfigError,
    classify_security,
    from_kafka_error,
    kafka_errors,
)
from ..topics.models import dlq_topic_name
from .consumer import batch_records
from .deadletters import DeadLetters, dead_letter
from .fileformat import ArchiveFile, file_path
from .identity import check_incarnation, live_topic_id
from .ranges import ClosedRange, Event, Lost, PartitionRanges, PassedFence, RollPolicy
from .stats import ArchiverCounters, ArchiverStats, PartitionStats
from .storage import ArchiveStorage
from .workers import EncoderPool

__all__ = [
    "DEFAULT_GROUP",
    "Archiver",
    "ArchiverStats",
    "Checkpoint",
    "PartitionStats",
    "RollPolicy",
]

log = logging.getLogger(__name__)

DEFAULT_GROUP: Final = "cosmic-horizons-archiver"
#: A point of :meth:`Archiver._store_next` a test may stop the process at: right after a
#: range's dead letters were flushed, its file stored, or its offset committed.
Checkpoint = Literal["dlq", "write", "commit"]


class Archiver:
    """Consumes ``settings.topic`` in a consumer group and archives it to ``storage``.

    ``checkpoint`` (tests): called with ``"dlq"``, ``"write"`` and ``"commit"`` right after
    a range's dead letters were flushed, its file stored and its offset committed.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        storage: ArchiveStorage,
        *,
        group: str = DEFAULT_GROUP,
        roll: RollPolicy | None = None,
        flush_at_end: bool = False,
        stop_at_end: bool = False,
        dlq_topic: str | None = None,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 1_000,
        batch_size: int = 2_000,
        workers: int = 0,
        consumer_config: Mapping[str, Any] | None = None,
        checkpoint: Callable[[Checkpoint], None] | None = None,
    ) -> None:
        self.settings = settings
        self.topic = settings.topic
        self.storage = storage
        self.group = group
        self.roll = roll or RollPolicy()
        self.flush_at_end = flush_at_end
        self.stop_at_end = stop_at_end
        self.dlq_topic = dlq_topic or dlq_topic_name(self.topic)
        self.batch_size = batch_size
        self._consumer_conf = clients.consumer_config(
            settings,
            "archiver",
            group=group,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            extra=consumer_config,
        )
        self._checkpoint = checkpoint or _no_checkpoint
        self.workers = workers
        self._encoder = EncoderPool(workers)
        self._dead = DeadLetters(settings, self.dlq_topic)
        #: Closed ranges handed to the encoder, oldest first, with their partition.
        self._closing: deque[tuple[PartitionRanges, ClosedRange]] = deque()
        #: Closed ranges allowed in the encoder at once: one being encoded and one waiting
        #: per worker; beyond that the consumer waits for the oldest to be stored.
        self._max_closing = 2 * workers
        self._parts: dict[int, PartitionRanges] = {}
        self._pending_commits: dict[int, int] = {}
        self._consumer: Consumer | None = None
        self.counters = ArchiverCounters(self.topic, group, storage.url)
        self._topic_id: str | None = None
        """The live topic's Kafka id, read at each assignment (None: the broker has none)."""
        #: Set by :meth:`stop` (from any thread); :meth:`run` checks it with its own event.
        self._stop = threading.Event()
        self._leaving = False
        #: Held while :meth:`run` is in progress; :meth:`close` waits for it.
        self._running = threading.Lock()
        self._run_thread: int | None = None

    def stats(self) -> ArchiverStats:
        """The counters now (safe to call from another thread)."""
        parts = sorted(dict(self._parts).values(), key=lambda p: p.partition)
        return self.counters.snapshot([p.stats() for p in parts])

    def run(self, stop_event: threading.Event | None = None) -> ArchiverStats:
        """Archive until ``stop_event`` is set or :meth:`stop` is called (or the end, with
        ``stop_at_end``); the final counters.

        Open ranges that were not stored when it stops are dropped, not committed: the
        next run reads them again. A :meth:`stop` before ``run`` makes it return at once.
        """
        stop_event = stop_event or threading.Event()
        if not self._running.acquire(blocking=False):
            raise RuntimeError("this archiver is already running")
        self._run_thread = threading.get_ident()
        try:
            return self._run(stop_event)
        finally:
            self._run_thread = None
            self._running.release()

    def stop(self) -> None:
        """Ask :meth:`run` to stop after the current batch (thread-safe, returns at once)."""
        self._stop.set()

    def close(self, timeout: float | None = 60.0) -> bool:
        """Stop the archiver and wait up to ``timeout`` s for :meth:`run` to finish.

        True when no run is in progress any more. Idempotent; called from the thread that
        runs the archiver (a checkpoint callback, say) it only stops it.
        """
        self.stop()
        if self._run_thread == threading.get_ident():
            return False
        if not self._running.acquire(timeout=-1 if timeout is None else timeout):
            return False
        self._running.release()
        return True

    def __enter__(self) -> Archiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, stop_event: threading.Event) -> ArchiverStats:
        log.debug("archiver consumer config: %s", mask_config(self._consumer_conf))
        self._leaving = False
        self._dead.open()
        try:
            consumer = Consumer(self._consumer_conf)
        except KafkaException as exc:
            raise ConfigError(f"invalid archiver consumer configuration: {exc}") from exc
        self._dead.start()
        self._consumer = consumer
        self._encoder.start(warm_rows=min(self.roll.max_records, 10_000))
        consumer.subscribe(
            [self.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        last_lag = 0.0
        stopped = False
        try:
            while not (stop_event.is_set() or self._stop.is_set()):
                # while files are being encoded, look back often to store them
                timeout = 0.01 if self._closing else 0.2
                msgs = consumer.consume(num_messages=self.batch_size, timeout=timeout)
                if self._pending_commits:
                    self._commit_skipped(consumer)
                if msgs:
                    self._handle(consumer, msgs)
                self._store_ready(consumer, wait=not msgs)
                now = time.monotonic()
                if now - last_lag >= 1.0:
                    last_lag = now
                    self._update_lag(consumer)
                if self.stop_at_end and self._all_at_end():
                    break
            stopped = True
        finally:
            if stopped:
                self._store_all(consumer)
            self._encoder.close()
            self._closing.clear()
            final = self.stats()
            self._parts.clear()
            self._leaving = True  # an assignment that arrives while closing is not taken
            with contextlib.suppress(KafkaException, RuntimeError):
                consumer.close()
            self._consumer = None
            self._dead.close()
        return final

    # -- 1. assignment -----------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._leaving:
            # consumer.close() can still deliver a rebalance's assignment; the consumer is
            # going away (its OffsetFetch would fail with _DESTROY), so nothing is taken.
            log.debug("partitions %s assigned while leaving: not taken", partitions)
            return
        with kafka_errors("OffsetFetch", self.group):
            committed = consumer.committed(partitions, timeout=30)
        files = self.storage.list_files(self.topic)
        self._topic_id = live_topic_id(make_admin(self.settings, timeout_ms=10_000), self.topic)
        check_incarnation(
            self.storage, self.topic, self._topic_id, files, [tp.partition for tp in partitions]
        )
        archived: dict[int, list[ArchiveFile]] = {}
        for f in files:
            archived.setdefault(f.partition, []).append(f)
        positions = []
        for tp in committed:
            start = tp.offset
            low = 0
            if start < 0 or start == OFFSET_INVALID:
                # A fresh group archives from offset 0: what retention already deleted below
                # the log start (and the archive lacks) is counted as lost.
                low = _fresh_log_start(consumer, TopicPartition(self.topic, tp.partition))
                start = 0
            part = PartitionRanges(
                self.topic, tp.partition, self.roll, start, topic_id=self._topic_id
            )
            part.fence((f.start_offset, f.end_offset) for f in archived.get(tp.partition, []))
            position = part.next_offset
            if position != start:
                log.info(
                    "partition %d: committed offset %d is archived up to %d; starting at %d",
                    tp.partition,
                    start,
                    position - 1,
                    position,
                )
            self._parts[tp.partition] = part
            if position < low:  # deleted before this archive ever read them
                self._act(consumer, part, part.lose(position, low - 1))
                position = part.next_offset
            positions.append(TopicPartition(self.topic, tp.partition, position))
            if position != start or tp.offset < 0:
                self._pending_commits[tp.partition] = position
        consumer.assign(positions)
        log.info("assigned %s partitions %s", self.topic, [tp.partition for tp in positions])

    def _commit_skipped(self, consumer: Consumer) -> None:
        """Commit positions the assignment moved past the archive (all below is stored)."""
        pending, self._pending_commits = self._pending_commits, {}
        for partition, position in pending.items():
            if partition in self._parts and position > 0:
                self._commit(consumer, partition, position)

    # -- 2. reading --------------------------------------------------------------------

    def _handle(self, consumer: Consumer, msgs: list[Message]) -> None:
        """A consumed batch: each partition's records into its open range, acting on what
        closes; error events (the end of a partition, a broker error) where they come."""
        for partition, run, err, records in batch_records(self.topic, msgs, self._topic_id):
            if err is not None:
                self._on_error_event(consumer, partition, err)
                continue
            part = self._parts.get(partition)  # type: ignore[arg-type]
            if part is None or records is None:
                continue  # not (or no longer) ours
            # offsets that jumped: transaction markers or compaction, or retention deleted some
            log_start = None
            if part.jumped(records.offsets):
                log_start = self._log_start(consumer, part.partition)
            consumed = part.consumed
            events = part.add(records, run, log_start)
            self.counters.consumed += part.consumed - consumed
            self._act(consumer, part, events)

    def _log_start(self, consumer: Consumer, partition: int) -> int | None:
        """The partition's log start: librdkafka's copy from fetch responses, else asked for."""
        tp = TopicPartition(self.topic, partition)
        try:
            low, _high = consumer.get_watermark_offsets(tp, cached=True)
            if low < 0:
                answer = consumer.get_watermark_offsets(tp, timeout=5, cached=False)
                low = answer[0] if answer else -1
        except KafkaException as exc:
            log.warning("partition %d: log start unknown (%s)", partition, exc)
            return None
        return low if low >= 0 else None

    def _act(self, consumer: Consumer, part: PartitionRanges, events: list[Event]) -> None:
        """Do, in order, what the partition's reading came to."""
        for event in events:
            if isinstance(event, ClosedRange):
                self._close(consumer, part, event)
            elif isinstance(event, PassedFence):
                consumer.seek(TopicPartition(self.topic, part.partition, event.end + 1))
                self._store_all(consumer)  # the ranges before the fence are committed first
                self._commit(consumer, part.partition, event.end + 1)
            elif isinstance(event, Lost):
                self.counters.lost_offsets += event.count
                self.counters.last_error = (
                    f"partition {part.partition}: offsets {event.first}-{event.last} "
                    "lost to retention"
                )

    def _on_error_event(self, consumer: Consumer, partition: int | None, err: RdKafkaError) -> None:
        if err.code() == RdKafkaError._PARTITION_EOF:
            part = self._parts.get(partition)  # type: ignore[arg-type]
            if part is not None:
                self._act(consumer, part, part.reached_end(flush=self.flush_at_end))
            return
        reason = f"{err.name()}: {err.str()}"
        self.counters.last_error = reason
        refused = classify_security(err.code(), err.str())
        if isinstance(refused, AuthorizationError):  # retrying cannot help: stop, say which
            if err.code() == RdKafkaError.GROUP_AUTHORIZATION_FAILED:
                raise lacking(refused, self.settings, "Read", "group", self.group)
            raise lacking(refused, self.settings, "Read", "topic", self.topic)
        if err.fatal():
            raise from_kafka_error(KafkaException(err), operation="Fetch", target=self.topic)
        log.warning("archiver consumer: %s", reason)

    # -- 3. storing, in offset order ---------------------------------------------------

    def _close(self, consumer: Consumer, part: PartitionRanges, closed: ClosedRange) -> None:
        """Hand a closed range to the encoder, to be stored in order."""
        self._closing.append((part, closed))
        self._encoder.submit(closed.records)
        while self._encoder.ready() or len(self._closing) > self._max_closing:
            self._store_next(consumer)

    def _store_ready(self, consumer: Consumer, *, wait: bool) -> None:
        """Store the encoded ranges that are ready (with ``wait``: at least the oldest)."""
        if wait and self._closing:
            self._store_next(consumer)
        while self._encoder.ready():
            self._store_next(consumer)

    def _store_all(self, consumer: Consumer) -> None:
        while self._closing:
            self._store_next(consumer)

    def _store_next(self, consumer: Consumer) -> None:
        """Store the oldest closed range: dead letters, then the file, then the commit."""
        encoded = self._encoder.take()
        part, closed = self._closing.popleft()
        r = closed.records
        if encoded.errors:
            dead = [
                dead_letter(
                    self.topic, closed.sources[i], r.keys[i], r.values[i], r.timestamps[i], exc
                )
                for i, exc in encoded.errors
            ]
            self._dead.send(dead, part.partition, closed.start, closed.end)
            self._checkpoint("dlq")
        path = file_path(self.topic, part.partition, closed.start, closed.end, closed.first_ts)
        self.storage.put_atomic(path, encoded.data)
        self._checkpoint("write")
        part.stored(closed)
        self.counters.stored(encoded.rows, len(encoded.data), len(encoded.errors))
        log.debug("stored %s (%d rows, %d dead letters)", path, encoded.rows, len(encoded.errors))
        if self._commit(consumer, part.partition, closed.end + 1):
            self._checkpoint("commit")

    def _commit(self, consumer: Consumer, partition: int, offset: int) -> bool:
        """Commit ``offset`` synchronously; a failure is logged (the archive stays the truth)."""
        try:
            consumer.commit(
                offsets=[TopicPartition(self.topic, partition, offset)], asynchronous=False
            )
        except KafkaException as exc:
            # Everything below ``offset`` is stored: whoever owns the partition next starts
            # after it anyway, because the assignment looks at the archive.
            err = from_kafka_error(exc, operation="OffsetCommit", target=self.topic)
            self.counters.last_error = str(err)
            log.warning("partition %d: commit of offset %d failed: %s", partition, offset, err)
            return False
        return True

    # -- 4. revocation -----------------------------------------------------------------

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._store_all(consumer)  # closed ranges are complete: store and commit them first
        for tp in partitions:
            self._pending_commits.pop(tp.partition, None)
            part = self._parts.pop(tp.partition, None)
            dropped = part.drop_open() if part is not None else None
            if dropped is not None:
                log.info(
                    "partition %d revoked: dropping %d unstored offsets from %d (re-read by the "
                    "next owner)",
                    tp.partition,
                    dropped.count,
                    dropped.start,
                )
        with contextlib.suppress(KafkaException, RuntimeError):
            consumer.unassign()

    # -- progress ----------------------------------------------------------------------

    def _all_at_end(self) -> bool:
        parts = self._parts
        return (
            bool(parts)
            and not self._closing
            and all(p.at_end and p.open is None for p in parts.values())
        )

    def _update_lag(self, consumer: Consumer) -> None:
        for part in list(self._parts.values()):
            try:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, part.partition), cached=True
                )
            except KafkaException:
                continue
            if high >= 0:
                done = (part.last_archived + 1) if part.last_archived is not None else 0
                part.lag = max(high - max(done, 0), 0)


def _fresh_log_start(consumer: Consumer, tp: TopicPartition, timeout: float = 30.0) -> int:
    """The partition's log start asked of its leader. A leader that has just taken the
    partition (a reassignment) answers OFFSET_NOT_AVAILABLE until its high watermark catches
    up: that, and any other retriable error, is asked again until ``timeout`` runs out."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            low, _high = consumer.get_watermark_offsets(tp, timeout=max(left, 0.1), cached=False)
            return int(low)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            retriable = isinstance(err, RdKafkaError) and (
                err.retriable() or err.code() == RdKafkaError.OFFSET_NOT_AVAILABLE
            )
            if not retriable or left <= 0.5:
                raise
            log.info("partition %d: log start not known yet (%s); asking again", tp.partition, err)
            time.sleep(0.5)


def _no_checkpoint(_point: Checkpoint) -> None:
    pass
