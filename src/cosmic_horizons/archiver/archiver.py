"""The archiver: a consumer group that writes each partition's records into Parquet files.

Exactly once, in effect:

* A partition's records are buffered into an *open range*. The range closes on record
  count, bytes or record time (a record in a new UTC day, or ``max_record_span_s`` after
  the range's first record, closes the range before it), never on wall-clock time; with
  ``flush_at_end`` also when the consumer reaches the end of the partition.
* Closing a range: its dead letters are produced to the dead-letter topic and flushed,
  then the Parquet file is stored atomically under a name derived from topic, partition
  and offset range, and only then is ``end + 1`` committed, synchronously.
* On assignment the archive is the source of truth: the consumer starts at the committed
  offset, moved past every archived range that covers it. Archived ranges further ahead
  fence the buffering: a range closes right before them and they are skipped. A crash
  between the write and the commit therefore neither duplicates nor rewrites anything.
* On revocation (or at stop) the un-written buffer is dropped; whoever reads the
  partition next starts again from the last commit and builds the same ranges. Closed
  ranges are stored and committed first.
* With ``workers >= 1``, closed ranges are decoded and encoded in worker processes while
  the consumer reads on; files are stored and offsets committed in the consumer's thread,
  in offset order, exactly as above.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Final

import msgspec
from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka import KafkaError as RdKafkaError

from ..cluster import make_admin
from ..config import KafkaSettings, mask_config
from ..errors import ArchiveError, ConfigError, PacketError, from_kafka_error
from ..topics.admin import TopicAdmin
from ..topics.models import desired_topic, dlq_topic_name
from .encoders import EncodedRange, RangeEncoder
from .gaps import find_loss
from .identity import check_incarnation, live_topic_id
from .layout import ArchiveFile, file_path
from .storage import ArchiveStorage

__all__ = [
    "CRASH_HOOK_ENV",
    "DEFAULT_GROUP",
    "Archiver",
    "ArchiverStats",
    "PartitionStats",
    "RollPolicy",
    "archiver_consumer_config",
]

log = logging.getLogger(__name__)

DEFAULT_GROUP: Final = "cosmic-horizons-archiver"
#: Test hook: ``dlq``, ``write`` or ``commit``, optionally ``:N`` (default 1): the process
#: SIGKILLs itself right after the N-th range's dead letters were flushed / file was stored /
#: offset was committed. Used by the crash-safety tests; never set it in production.
CRASH_HOOK_ENV: Final = "HORIZONS_ARCHIVER_CRASH_AFTER"
_CRASH_POINTS: Final = ("dlq", "write", "commit")
_DAY_MS: Final = 86_400_000
_NO_FENCE: Final = 1 << 62
#: Longest ``error`` header: an error may quote the bad field, which can be huge.
_MAX_ERROR_CHARS: Final = 1000
# Message accessors for map(): a bound-method lookup per record costs as much as the call.
_error = Message.error
_partition = Message.partition
_offset = Message.offset
_timestamp = Message.timestamp
_key = Message.key
_value = Message.value
_second = itemgetter(1)


class RollPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """When an open range is closed into a file (all limits are on records, never on time)."""

    max_records: int = 10_000
    """Offsets per file (dead letters included)."""
    max_bytes: int = 64 * 1024 * 1024
    """Kafka key + value bytes per file."""
    max_record_span_s: float = 3600.0
    """Record-time span of one file; files also never cross a UTC midnight."""

    def __post_init__(self) -> None:
        if self.max_records < 1:
            raise ConfigError(f"max records per file must be at least 1, got {self.max_records}")
        if self.max_bytes < 1:
            raise ConfigError(f"max bytes per file must be at least 1, got {self.max_bytes}")
        if not self.max_record_span_s > 0:
            raise ConfigError(f"file span must be positive, got {self.max_record_span_s} s")


class PartitionStats(msgspec.Struct, frozen=True, kw_only=True):
    partition: int
    last_archived_offset: int | None
    """Highest offset covered by a stored file (None: nothing archived yet)."""
    buffered: int
    """Offsets read but not yet in a file."""
    lag: int | None
    """High watermark minus the next offset to archive (None until known)."""
    lost_offsets: int = 0
    """Offsets deleted by retention before they were read (never archived)."""


class ArchiverStats(msgspec.Struct, frozen=True, kw_only=True):
    """A copy of the archiver's counters at one instant."""

    topic: str
    group: str
    storage: str
    rows: int
    """Packets written into files."""
    files: int
    bytes: int
    """Parquet bytes stored."""
    dead_letters: int
    lost_offsets: int
    """Offsets deleted by retention before they were read, so never archived."""
    consumed: int
    """Records read (including ones later dropped at a revocation and read again)."""
    rate: float
    """Rows archived per second over the last few seconds."""
    partitions: list[PartitionStats]
    lag: int | None
    """Sum of the assigned partitions' lag."""
    last_error: str | None
    started_at: float
    uptime_s: float


def archiver_consumer_config(
    settings: KafkaSettings,
    group: str,
    *,
    session_timeout_ms: int = 10_000,
    heartbeat_interval_ms: int = 1_000,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The librdkafka consumer settings of the archiver."""
    conf: dict[str, Any] = settings.client_config("cosmic-horizons-archiver")
    conf.update(
        {
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "session.timeout.ms": session_timeout_ms,
            "heartbeat.interval.ms": heartbeat_interval_ms,
            "max.poll.interval.ms": 300_000,
            "queued.min.messages": 200_000,
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
        }
    )
    conf.update(extra or {})
    return conf


@dataclass(slots=True)
class _DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, str | bytes | None]]
    own: list[tuple[str, str | bytes | None]]
    """The headers naming the error and the source (the last ones of ``headers``)."""
    stripped: bool = False
    """The record itself was left out (too large for the dead-letter topic)."""

    def without_record(self, topic: str) -> _DeadLetter:
        """Only the error and source headers: for a record too large for ``topic``."""
        original = self.headers[: len(self.headers) - len(self.own)]
        size = len(self.key or b"") + len(self.value or b"")
        size += sum(len(k) + len(v or b"") for k, v in original)
        note = f"the record's key, value and headers ({size} bytes) are too large for {topic}"
        return _DeadLetter(
            None, None, [*self.own, ("error.dropped", note.encode())], self.own, stripped=True
        )


@dataclass(slots=True)
class _OpenRange:
    """Records of one partition read since the last stored file."""

    start: int
    first_ts: int
    deadline_ts: int
    """A record at or after this time closes the range before it (span or UTC midnight)."""
    msgs: list[Message] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)
    nbytes: int = 0
    last: int = -1

    @property
    def count(self) -> int:
        return len(self.offsets)


@dataclass(slots=True)
class _PartitionState:
    partition: int
    next_offset: int
    fences: list[tuple[int, int]]
    """Archived ranges ahead of ``next_offset``, sorted: buffering stops before them."""
    last_archived: int | None
    open: _OpenRange | None = None
    at_end: bool = False
    lag: int | None = None
    closing: int = 0
    """Offsets of closed ranges handed to the encoder and not yet stored."""
    lost: int = 0

    @property
    def fence_start(self) -> int:
        return self.fences[0][0] if self.fences else _NO_FENCE


@dataclass(slots=True)
class _Closing:
    """A closed range whose file is being encoded."""

    state: _PartitionState
    rng: _OpenRange
    end: int


class _RowRate:
    """Rows stored per second over the last ``window`` seconds."""

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self._started = time.monotonic()
        self._samples: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def add(self, rows: int) -> None:
        with self._lock:
            self._samples.append((time.monotonic(), rows))

    def rate(self) -> float:
        now = time.monotonic()
        with self._lock:
            while self._samples and self._samples[0][0] < now - self.window:
                self._samples.popleft()
            total = sum(rows for _, rows in self._samples)
        elapsed = min(self.window, now - self._started)
        return total / elapsed if elapsed > 0 else 0.0


class _CrashHook:
    """``HORIZONS_ARCHIVER_CRASH_AFTER=point[:N]``: SIGKILL this process at a point (tests)."""

    def __init__(self, spec: str | None) -> None:
        self.point: str | None = None
        self.remaining = 0
        if not spec:
            return
        point, _, count = spec.partition(":")
        if point not in _CRASH_POINTS or (count and not count.isdigit()):
            raise ConfigError(
                f"{CRASH_HOOK_ENV}={spec!r}: expected one of {', '.join(_CRASH_POINTS)}, "
                "optionally followed by :N"
            )
        self.point = point
        self.remaining = int(count or 1)

    def reached(self, point: str) -> None:
        if point != self.point:
            return
        self.remaining -= 1
        if self.remaining <= 0:
            log.critical("%s=%s: killing this process (test hook)", CRASH_HOOK_ENV, point)
            os.kill(os.getpid(), signal.SIGKILL)


class Archiver:
    """Consumes ``settings.topic`` in a consumer group and archives it to ``storage``."""

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
        self._consumer_conf = archiver_consumer_config(
            settings,
            group,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            extra=consumer_config,
        )
        self._crash = _CrashHook(os.environ.get(CRASH_HOOK_ENV))
        self.workers = workers
        self._encoder = RangeEncoder(workers)
        self._closing: deque[_Closing] = deque()
        #: Closed ranges allowed in the encoder at once: one being encoded and one waiting
        #: per worker; beyond that the consumer waits for the oldest to be stored.
        self._max_closing = 2 * workers
        self._parts: dict[int, _PartitionState] = {}
        self._pending_commits: dict[int, int] = {}
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._rate = _RowRate()
        self._started = time.time()
        self._started_mono = time.monotonic()
        self.rows = 0
        self.files = 0
        self.bytes = 0
        self.dead_letters = 0
        self.lost_offsets = 0
        self.consumed = 0
        self.last_error: str | None = None
        self._topic_id: str | None = None
        """The live topic's Kafka id, read at each assignment (None: the broker has none)."""

    # -- public ------------------------------------------------------------------------

    def stats(self) -> ArchiverStats:
        """The counters now (safe to call from another thread)."""
        parts = sorted(dict(self._parts).values(), key=lambda p: p.partition)
        pstats = [
            PartitionStats(
                partition=p.partition,
                last_archived_offset=p.last_archived,
                buffered=(p.open.count if p.open else 0) + p.closing,
                lag=p.lag,
                lost_offsets=p.lost,
            )
            for p in parts
        ]
        lags = [p.lag for p in pstats if p.lag is not None]
        return ArchiverStats(
            topic=self.topic,
            group=self.group,
            storage=self.storage.url,
            rows=self.rows,
            files=self.files,
            bytes=self.bytes,
            dead_letters=self.dead_letters,
            lost_offsets=self.lost_offsets,
            consumed=self.consumed,
            rate=round(self._rate.rate(), 1),
            partitions=pstats,
            lag=sum(lags) if lags else None,
            last_error=self.last_error,
            started_at=self._started,
            uptime_s=round(time.monotonic() - self._started_mono, 3),
        )

    def run(self, stop_event: threading.Event) -> ArchiverStats:
        """Archive until ``stop_event`` is set (or the end, with ``stop_at_end``).

        Open ranges that were not stored when it stops are dropped, not committed: the
        next run reads them again.
        """
        log.debug("archiver consumer config: %s", mask_config(self._consumer_conf))
        self._ensure_dlq_topic()
        try:
            consumer = Consumer(self._consumer_conf)
        except KafkaException as exc:
            raise ConfigError(f"invalid archiver consumer configuration: {exc}") from exc
        producer_conf: dict[str, Any] = self.settings.client_config("cosmic-horizons-archiver-dlq")
        producer_conf.update({"acks": "all", "enable.idempotence": True, "linger.ms": 5})
        self._producer = Producer(producer_conf)
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
            while not stop_event.is_set():
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
            with contextlib.suppress(KafkaException, RuntimeError):
                consumer.close()
            self._consumer = None
            if self._producer is not None:
                self._producer.flush(10)
                self._producer = None
        return final

    # -- hot path ----------------------------------------------------------------------

    def _handle(self, consumer: Consumer, msgs: list[Message]) -> None:
        """Add a consumed batch to the open ranges, closing ranges where the rules say.

        The batch is cut into runs of one partition and handled a run at a time; the result
        is the same as handling the records one by one (records that are stale after a seek
        or that reach an archived range take the one-by-one path).
        """
        errors = list(map(_error, msgs))
        if any(e is not None for e in errors):
            start = 0
            for i, err in enumerate(errors):
                if err is not None:
                    if i > start:
                        self._handle_clean(consumer, msgs[start:i])
                    self._on_error_event(msgs[i], err)
                    start = i + 1
            if start < len(msgs):
                self._handle_clean(consumer, msgs[start:])
        else:
            self._handle_clean(consumer, msgs)

    def _handle_clean(self, consumer: Consumer, msgs: list[Message]) -> None:
        partitions = list(map(_partition, msgs))
        first = partitions[0]
        if partitions.count(first) == len(partitions):
            self._handle_run(consumer, first, msgs)  # type: ignore[arg-type]
            return
        start = 0
        for i in range(1, len(msgs) + 1):
            if i == len(msgs) or partitions[i] != partitions[start]:
                self._handle_run(consumer, partitions[start], msgs[start:i])  # type: ignore[arg-type]
                start = i

    def _handle_run(self, consumer: Consumer, partition: int, msgs: list[Message]) -> None:
        """Records of one partition, in offset order."""
        state = self._parts.get(partition)
        if state is None:
            return  # not (or no longer) ours
        offsets: list[int] = list(map(_offset, msgs))  # type: ignore[arg-type]
        if offsets[0] != state.next_offset or offsets[-1] - offsets[0] + 1 != len(offsets):
            # offsets jumped: transaction markers or compaction, or retention deleted some
            log_start = self._log_start(consumer, partition)
            while (loss := find_loss(state.next_offset, offsets, log_start)) is not None:
                if loss.index:
                    self._handle_offsets(consumer, state, msgs[: loss.index], offsets[: loss.index])
                self._on_loss(consumer, state, loss.first, loss.last)
                msgs, offsets = msgs[loss.index :], offsets[loss.index :]
        if msgs:
            self._handle_offsets(consumer, state, msgs, offsets)

    def _handle_offsets(
        self, consumer: Consumer, state: _PartitionState, msgs: list[Message], offsets: list[int]
    ) -> None:
        if offsets[0] < state.next_offset or offsets[-1] >= state.fence_start:
            for msg, offset in zip(msgs, offsets, strict=True):
                if offset < state.next_offset:
                    continue  # fetched before a seek
                if offset >= state.fence_start and self._at_fence(consumer, state, offset):
                    continue
                self._append(consumer, state, [msg], [offset])
            return
        self._append(consumer, state, msgs, offsets)

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

    def _on_loss(self, consumer: Consumer, state: _PartitionState, first: int, last: int) -> None:
        """Offsets ``first..last`` were deleted unread: store what was read, count, go on.

        The open range closes at the last offset read, so no file names the lost offsets.
        """
        first = max(first, state.next_offset)
        if first > last:
            return
        if state.open is not None:
            self._close(consumer, state, state.open.last)
        # archived ranges (fences) inside the stretch are not lost, and are now passed
        archived = 0
        for start, end in state.fences:
            archived += max(0, min(end, last) - max(start, first) + 1)
            if end <= last:
                state.last_archived = max(state.last_archived or -1, end)
        state.fences = [f for f in state.fences if f[1] > last]
        lost = last - first + 1 - archived
        state.next_offset = last + 1
        if lost <= 0:
            return
        state.lost += lost
        self.lost_offsets += lost
        self.last_error = f"partition {state.partition}: offsets {first}-{last} lost to retention"
        log.warning(
            "%s partition %d: offsets %d-%d (%d not archived) were deleted by the topic's "
            "retention before they were archived; they are lost, archiving goes on from "
            "offset %d",
            self.topic,
            state.partition,
            first,
            last,
            lost,
            last + 1,
        )

    def _append(
        self, consumer: Consumer, state: _PartitionState, msgs: list[Message], offsets: list[int]
    ) -> None:
        """Append records (one partition, increasing offsets) to its open range, rolling files.

        Rules, record by record: a record at or after the range's time deadline, or one that
        would take it over ``max_bytes``, closes the range before it; a range closes after the
        record that brings it to ``max_records`` offsets or ``max_bytes`` bytes.
        """
        roll = self.roll
        n = len(offsets)
        state.at_end = False
        state.next_offset = offsets[-1] + 1
        self.consumed += n
        stamps: list[int] = list(map(_second, map(_timestamp, msgs)))
        if min(stamps) < 0:
            stamps = [max(t, 0) for t in stamps]  # no timestamp: count it as the epoch
        keys: list[bytes | None] = list(map(_key, msgs))
        values: list[bytes | None] = list(map(_value, msgs))
        sizes: list[int] | None = None
        batch_bytes = _total_size(keys, values)
        pos = 0
        while pos < n:
            rng = state.open
            fresh = rng is None
            if rng is None:
                ts = stamps[pos]
                rng = state.open = _OpenRange(
                    start=offsets[pos],
                    first_ts=ts,
                    deadline_ts=min(
                        ts + int(roll.max_record_span_s * 1000), (ts // _DAY_MS + 1) * _DAY_MS
                    ),
                )
            limit = min(n, pos + roll.max_records - rng.count)
            cut, close_end = limit, -1
            if max(stamps[pos:limit]) >= rng.deadline_ts:
                k = next(i for i in range(pos, limit) if stamps[i] >= rng.deadline_ts)
                cut, close_end = k, offsets[k] - 1
            if sizes is None and rng.nbytes + batch_bytes >= roll.max_bytes:
                sizes = [
                    (len(k) if k else 0) + (len(v) if v else 0)
                    for k, v in zip(keys, values, strict=True)
                ]
            if sizes is not None:
                total = rng.nbytes
                for j in range(pos, cut):
                    total += sizes[j]
                    if total > roll.max_bytes and not (j == pos and fresh):
                        cut, close_end = j, offsets[j] - 1  # would go over: close before j
                        break
                    if total >= roll.max_bytes:
                        cut, close_end = j + 1, offsets[j]  # reached: close after j
                        break
            if cut > pos:
                rng.msgs.extend(msgs[pos:cut])
                rng.offsets.extend(offsets[pos:cut])
                rng.timestamps.extend(stamps[pos:cut])
                rng.keys.extend(keys[pos:cut])
                rng.values.extend(values[pos:cut])
                if sizes is not None:
                    rng.nbytes += sum(sizes[pos:cut])
                rng.last = offsets[cut - 1]
            if close_end < 0 and rng.count >= roll.max_records:
                close_end = rng.last
            if close_end >= 0:
                self._close(consumer, state, close_end)
            pos = cut
        if sizes is None and state.open is not None:
            # bytes were not tracked one by one: add this batch's share to the open range
            state.open.nbytes += _total_size(
                keys[-min(n, state.open.count) :], values[-min(n, state.open.count) :]
            )

    def _dead_letter(
        self, msg: Message, key: bytes | None, value: bytes | None, ts: int, exc: PacketError
    ) -> _DeadLetter:
        """The record as it came, with headers naming the error and where it came from."""
        original = msg.headers() or []
        headers: list[tuple[str, str | bytes | None]] = list(
            original.items() if isinstance(original, dict) else original
        )
        error = str(exc)
        if len(error) > _MAX_ERROR_CHARS:
            error = f"{error[:_MAX_ERROR_CHARS]}... ({len(error)} characters)"
        own: list[tuple[str, str | bytes | None]] = [
            ("error", error.encode()),
            ("error.field", exc.field.encode()),
            ("source.topic", self.topic.encode()),
            ("source.partition", str(msg.partition()).encode()),
            ("source.offset", str(msg.offset()).encode()),
            ("source.timestamp", str(ts).encode()),
        ]
        return _DeadLetter(key, value, headers + own, own)

    def _at_fence(self, consumer: Consumer, state: _PartitionState, offset: int) -> bool:
        """``offset`` reached an archived range: close before it, skip it. True: drop record."""
        while state.fences and offset >= state.fences[0][0]:
            start, end = state.fences[0]
            if state.open is not None:
                self._close(consumer, state, min(start - 1, offset - 1))
            if offset <= end:
                state.fences.pop(0)
                state.next_offset = end + 1
                state.last_archived = max(state.last_archived or -1, end)
                log.info(
                    "partition %d: offsets %d-%d are already archived; skipping them",
                    state.partition,
                    start,
                    end,
                )
                consumer.seek(TopicPartition(self.topic, state.partition, end + 1))
                self._store_all(consumer)  # the ranges before the fence are committed first
                self._commit(consumer, state.partition, end + 1)
                return True
            state.fences.pop(0)
        return False

    # -- closing a range ---------------------------------------------------------------

    def _close(self, consumer: Consumer, state: _PartitionState, end: int) -> None:
        """Close the open range at ``end``: hand it to the encoder, to be stored in order."""
        rng = state.open
        if rng is None:
            return
        state.open = None
        if end < rng.start:
            return
        self._closing.append(_Closing(state, rng, end))
        state.closing += rng.count
        self._encoder.submit(
            self.topic,
            state.partition,
            rng.offsets,
            rng.timestamps,
            rng.keys,
            rng.values,
            topic_id=self._topic_id,
        )
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
        closing = self._closing[0]
        encoded: EncodedRange = self._encoder.take()
        self._closing.popleft()
        state, rng, end = closing.state, closing.rng, closing.end
        state.closing -= rng.count
        if encoded.errors:
            dead = [
                self._dead_letter(rng.msgs[i], rng.keys[i], rng.values[i], rng.timestamps[i], exc)
                for i, exc in encoded.errors
            ]
            self._produce_dead_letters(dead, state.partition, rng.start, end)
            self._crash.reached("dlq")
        path = file_path(self.topic, state.partition, rng.start, end, rng.first_ts)
        self.storage.put_atomic(path, encoded.data)
        self._crash.reached("write")
        state.last_archived = end
        self.rows += encoded.rows
        self.files += 1
        self.bytes += len(encoded.data)
        self.dead_letters += len(encoded.errors)
        self._rate.add(encoded.rows)
        log.debug("stored %s (%d rows, %d dead letters)", path, encoded.rows, len(encoded.errors))
        if self._commit(consumer, state.partition, end + 1):
            self._crash.reached("commit")

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
            self.last_error = str(err)
            log.warning("partition %d: commit of offset %d failed: %s", partition, offset, err)
            return False
        return True

    def _produce_dead_letters(
        self, dead: list[_DeadLetter], partition: int, start: int, end: int
    ) -> None:
        producer = self._producer
        if producer is None:
            raise ArchiveError("the dead-letter producer is not running")
        failures: list[str] = []
        too_large: list[_DeadLetter] = []

        def send(d: _DeadLetter) -> None:
            def delivered(err: RdKafkaError | None, _msg: Message) -> None:
                if err is None:
                    return
                if err.code() == RdKafkaError.MSG_SIZE_TOO_LARGE and not d.stripped:
                    too_large.append(d)
                else:
                    failures.append(f"{err.name()}: {err.str()}")

            while True:
                try:
                    producer.produce(
                        self.dlq_topic, d.value, d.key, headers=d.headers, on_delivery=delivered
                    )
                    return
                except BufferError:
                    producer.poll(0.05)
                except KafkaException as exc:
                    if exc.args[0].code() != RdKafkaError.MSG_SIZE_TOO_LARGE or d.stripped:
                        raise
                    d = d.without_record(self.dlq_topic)

        for d in dead:
            send(d)
        remaining = producer.flush(60)
        if too_large and not remaining:  # the broker refused them: send them without the record
            for d in too_large:
                send(d.without_record(self.dlq_topic))
            remaining = producer.flush(60)
        if remaining or failures:
            reason = failures[0] if failures else f"{remaining} still queued after 60 s"
            raise ArchiveError(
                f"dead letters of {self.topic} partition {partition} offsets {start}-{end} "
                f"could not be delivered to {self.dlq_topic} ({reason}); nothing was committed"
            )

    # -- rebalancing -------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            committed = consumer.committed(partitions, timeout=30)
        except KafkaException as exc:
            raise from_kafka_error(exc, operation="OffsetFetch", target=self.group) from exc
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
                low, _high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, tp.partition), timeout=30, cached=False
                )
                start = 0
            ranges = [(f.start_offset, f.end_offset) for f in archived.get(tp.partition, [])]
            position, last = _position_after_archive(start, ranges)
            if position != start:
                log.info(
                    "partition %d: committed offset %d is archived up to %d; starting at %d",
                    tp.partition,
                    start,
                    position - 1,
                    position,
                )
            state = self._parts[tp.partition] = _PartitionState(
                partition=tp.partition,
                next_offset=position,
                fences=[r for r in ranges if r[0] >= position],
                last_archived=last,
            )
            if position < low:  # deleted before this archive ever read them
                self._on_loss(consumer, state, position, low - 1)
            positions.append(TopicPartition(self.topic, tp.partition, state.next_offset))
            if state.next_offset != start or tp.offset < 0:
                self._pending_commits[tp.partition] = state.next_offset
        consumer.assign(positions)
        log.info("assigned %s partitions %s", self.topic, [tp.partition for tp in positions])

    def _commit_skipped(self, consumer: Consumer) -> None:
        """Commit positions the assignment moved past the archive (all below is stored)."""
        pending, self._pending_commits = self._pending_commits, {}
        for partition, position in pending.items():
            if partition in self._parts and position > 0:
                self._commit(consumer, partition, position)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._store_all(consumer)  # closed ranges are complete: store and commit them first
        for tp in partitions:
            self._pending_commits.pop(tp.partition, None)
            state = self._parts.pop(tp.partition, None)
            if state is not None and state.open is not None:
                log.info(
                    "partition %d revoked: dropping %d unstored offsets from %d (re-read by the "
                    "next owner)",
                    tp.partition,
                    state.open.count,
                    state.open.start,
                )
        with contextlib.suppress(KafkaException, RuntimeError):
            consumer.unassign()

    # -- events ------------------------------------------------------------------------

    def _on_error_event(self, msg: Message, err: RdKafkaError) -> None:
        if err.code() == RdKafkaError._PARTITION_EOF:
            state = self._parts.get(msg.partition())  # type: ignore[arg-type]
            if state is None:
                return
            state.at_end = True
            if self.flush_at_end and state.open is not None and self._consumer is not None:
                self._close(self._consumer, state, state.open.last)
            return
        reason = f"{err.name()}: {err.str()}"
        self.last_error = reason
        if err.fatal():
            raise from_kafka_error(KafkaException(err), operation="Fetch", target=self.topic)
        log.warning("archiver consumer: %s", reason)

    def _all_at_end(self) -> bool:
        parts = self._parts
        return (
            bool(parts)
            and not self._closing
            and all(p.at_end and p.open is None for p in parts.values())
        )

    def _update_lag(self, consumer: Consumer) -> None:
        for state in list(self._parts.values()):
            try:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, state.partition), cached=True
                )
            except KafkaException:
                continue
            if high >= 0:
                done = (state.last_archived + 1) if state.last_archived is not None else 0
                state.lag = max(high - max(done, 0), 0)

    def _ensure_dlq_topic(self) -> None:
        """Create the dead-letter topic with the main topic's layout when it is missing."""
        result = TopicAdmin(self.settings).ensure(
            desired_topic(self.settings.profile, self.dlq_topic)
        )
        if result.created:
            log.info("created dead-letter topic %s", self.dlq_topic)


def _total_size(keys: list[bytes | None], values: list[bytes | None]) -> int:
    """Key and value bytes of records."""
    try:
        return sum(map(len, keys)) + sum(map(len, values))  # type: ignore[arg-type]
    except TypeError:  # a missing key or value
        return sum(len(k) for k in keys if k) + sum(len(v) for v in values if v)


def _position_after_archive(start: int, ranges: list[tuple[int, int]]) -> tuple[int, int | None]:
    """Where to read from: ``start`` moved past every archived range covering it.

    Returns the position and the highest archived offset below it (None when none).
    """
    position = start
    for s, e in sorted(ranges):
        if s <= position <= e:
            position = e + 1
    below = [e for _s, e in ranges if e < position]
    return position, (max(below) if below else None)
