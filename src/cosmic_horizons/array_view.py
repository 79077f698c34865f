"""A live view of the array: the latest metrics of every element, read from ``element.raw_data``.

:class:`ArrayView` reads the topic in a background thread with its own consumer. It assigns the
topic's partitions directly (no group membership, no commits), so it never shows up as a lagging
consumer group and never moves anyone's offsets. It starts at the end of the topic by default
(``from_beginning=True`` replays what the topic holds).

Element health is judged by :mod:`.array_health`; the snapshot's models are in
:mod:`.array_models` and it is built by :mod:`.array_snapshot`. Their public names are
re-exported here.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from operator import attrgetter
from typing import Any, Final

import msgspec
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition
from confluent_kafka import KafkaError as RdKafkaError

from .array_health import HEALTH_ORDER, ElementHealth, HealthThresholds, classify
from .array_models import ArraySnapshot, ElementState, RatePoint, SiteSummary
from .array_snapshot import (
    RATE_HISTORY_S,
    Row,
    SortKey,
    build_elements,
    history,
    recent_rate,
    sort_key,
    summarize_sites,
)
from .clients import consumer_config
from .config import KafkaSettings
from .errors import PacketError
from .packet import BINARY_CONTENT_TYPE, KafkaPayload, decode_packet
from .packet_binary import Headers, content_type_of, decode_binary, decode_record, is_binary

__all__ = [
    "HEALTH_ORDER",
    "MAX_ELEMENTS",
    "RATE_HISTORY_S",
    "ArraySnapshot",
    "ArrayView",
    "ElementHealth",
    "ElementState",
    "HealthThresholds",
    "RatePoint",
    "SiteSummary",
    "classify",
    "summarize_sites",
]

log = logging.getLogger(__name__)

#: Most elements tracked: packets from further element ids are counted (``untracked``), not kept
#: (a producer bug minting a new id per packet must not exhaust memory or the dashboard). The
#: snapshot states it as ``elementLimit``. Well above the 26,300 elements of the full array.
MAX_ELEMENTS: Final = 65_536
#: How often the consumer looks for new partitions (or for the topic to appear).
METADATA_REFRESH_S: Final = 10.0
#: How long a metadata request may take in all, and how long each wait in it is.
METADATA_TIMEOUT_S: Final = 5.0
METADATA_POLL_S: Final = 0.5
_BY_KEY: Final = attrgetter("key")
_ROW: Final = attrgetter("row")


class _Element:
    """One tracked element: where it sorts, and its latest :data:`Row` (one tuple, replaced whole
    by every packet, so a snapshot copies it with one reference)."""

    __slots__ = ("key", "row")

    def __init__(self, packet: KafkaPayload) -> None:
        self.key: SortKey = sort_key(packet.site_id, packet.element_id)
        self.row: Row = (packet, 0, 0.0, 0, 0, False)


class ArrayView:
    """Latest metrics per element and per site, kept by a background consumer thread.

    Call :meth:`start` to begin consuming and :meth:`close` to stop. :meth:`ingest` feeds one
    record by hand (the consumer thread uses it too). Undecodable records are counted and
    skipped; they never stop the view.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        topic: str | None = None,
        from_beginning: bool = False,
        thresholds: HealthThresholds | None = None,
        group_id: str | None = None,
        max_elements: int = MAX_ELEMENTS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.topic = topic or settings.topic
        self.from_beginning = from_beginning
        self.thresholds = thresholds or HealthThresholds()
        self.group_id = group_id or f"cosmic-horizons-dashboard-{socket.gethostname()}"
        self.max_elements = max_elements
        self._clock = clock
        self._lock = threading.Lock()
        self._elements: dict[str, _Element] = {}
        self._ordered: list[_Element] | None = None  # _elements by key; None: sort again
        self._records = 0
        self._undecodable = 0
        self._untracked = 0
        self._last_decode_error: str | None = None
        self._consumer_error: str | None = None
        self._counts: deque[list[int]] = deque(maxlen=RATE_HISTORY_S + 1)  # [second, count]
        self._started_at = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ArrayView:
        """Start the consumer thread (idempotent)."""
        if self._thread is None:
            self.settings.require_bootstrap()
            self._thread = threading.Thread(target=self._run, name="array-view", daemon=True)
            self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the consumer thread and close its consumer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> ArrayView:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- records ---------------------------------------------------------------------------

    def ingest(
        self,
        value: bytes | None,
        *,
        partition: int = 0,
        offset: int = -1,
        headers: Headers = None,
    ) -> bool:
        """Take one record value (JSON, or binary as its ``content-type`` header says); False
        (and counted) when it is not a valid packet."""
        now = self._clock()
        error = ""
        raw_chunk = False
        try:
            if value is None:
                raise PacketError("$", "empty record (no value)")
            packet: KafkaPayload | None
            if headers and content_type_of(headers) == BINARY_CONTENT_TYPE and is_binary(value):
                packet, chunk = decode_binary(value)  # the chunk is not turned into base64
                raw_chunk = chunk is not None
            else:
                packet = decode_record(value, headers) if headers else decode_packet(value)
        except PacketError as exc:
            packet = None
            error = f"partition {partition} offset {offset}: {exc}"
        has_chunk = raw_chunk or (packet is not None and packet.data_chunk is not None)
        if packet is not None and has_chunk:  # the view shows that a chunk came, never its bytes
            packet = msgspec.structs.replace(packet, data_chunk=None)
        with self._lock:
            self._count(now)
            if packet is None:
                self._undecodable += 1
                self._last_decode_error = error
                return False
            el = self._elements.get(packet.element_id)
            if el is None:
                if len(self._elements) >= self.max_elements:
                    self._untracked += 1
                    return True
                el = self._elements[packet.element_id] = _Element(packet)
                self._ordered = None
            elif packet.site_id != el.row[0].site_id:  # moved to another site: sorts elsewhere
                el.key = sort_key(packet.site_id, packet.element_id)
                self._ordered = None
            el.row = (packet, el.row[1] + 1, now, partition, offset, has_chunk)
        return True

    def _count(self, now: float) -> None:
        """One more record in the current second (the caller holds the lock)."""
        self._records += 1
        second = int(now)
        counts = self._counts
        if counts and counts[-1][0] == second:
            counts[-1][1] += 1
        else:
            counts.append([second, 1])

    # -- reading ---------------------------------------------------------------------------

    @property
    def elements(self) -> int:
        """Elements tracked now."""
        return len(self._elements)

    def snapshot(self) -> ArraySnapshot:
        """A consistent copy of the view: elements sorted by site then id, sites by id.

        Elements are kept in that order between snapshots (re-sorted by their cached keys only
        after an element appeared or changed site), so a snapshot is one pass over them.
        """
        now = self._clock()
        limits = self.thresholds
        with self._lock:
            ordered = self._ordered
            if ordered is None:
                ordered = self._ordered = sorted(self._elements.values(), key=_BY_KEY)
            rows: list[Row] = list(map(_ROW, ordered))
            records, undecodable, untracked = self._records, self._undecodable, self._untracked
            decode_error, consumer_error = self._last_decode_error, self._consumer_error
            counts = [(s, c) for s, c in self._counts]
        elements, sites = build_elements(rows, now, limits)
        return ArraySnapshot(
            topic=self.topic,
            running=self.running,
            from_beginning=self.from_beginning,
            started_at=self._started_at,
            generated_at=now,
            records=records,
            undecodable=undecodable,
            element_limit=self.max_elements,
            untracked=untracked,
            last_decode_error=decode_error,
            consumer_error=consumer_error,
            rate=recent_rate(counts, now),
            rate_history=history(counts, int(now)),
            thresholds=limits,
            sites=sites,
            elements=elements,
        )

    # -- the consumer thread ---------------------------------------------------------------

    def _consumer_config(self) -> dict[str, str | int | float | bool]:
        return consumer_config(
            self.settings, "array-view", group=self.group_id, from_beginning=self.from_beginning
        )

    def _run(self) -> None:
        try:
            consumer = Consumer(self._consumer_config())
        except KafkaException as exc:
            with self._lock:
                self._consumer_error = f"cannot create the consumer: {exc}"
            log.error("array view: %s", self._consumer_error)
            return
        assigned: set[int] = set()
        next_refresh = 0.0
        try:
            while not self._stop.is_set():
                if time.monotonic() >= next_refresh:
                    next_refresh = time.monotonic() + (METADATA_REFRESH_S if assigned else 1.0)
                    self._assign_new(consumer, assigned)
                if not assigned:
                    self._stop.wait(0.2)
                    continue
                for msg in consumer.consume(500, 0.2):
                    err = msg.error()
                    if err is not None:
                        if err.code() != RdKafkaError._PARTITION_EOF:
                            with self._lock:
                                self._consumer_error = f"{err.name()}: {err.str()}"
                        continue
                    self.ingest(
                        msg.value(),
                        partition=msg.partition() or 0,
                        offset=msg.offset() or 0,
                        headers=msg.headers(),
                    )
        except Exception:  # keep the thread's death visible rather than silent
            log.exception("array view consumer stopped")
            with self._lock:
                self._consumer_error = "consumer thread stopped; see the log"
        finally:
            consumer.close()

    def _metadata(self, consumer: Consumer) -> Any:
        """The topic's metadata, asked in short waits so that :meth:`close` need not wait long."""
        deadline = time.monotonic() + METADATA_TIMEOUT_S
        while True:
            try:
                return consumer.list_topics(self.topic, timeout=METADATA_POLL_S)
            except KafkaException:
                if self._stop.is_set() or time.monotonic() >= deadline:
                    raise

    def _assign_new(self, consumer: Consumer, assigned: set[int]) -> None:
        """Assign partitions of the topic not yet assigned (the topic may appear or grow)."""
        try:
            meta = self._metadata(consumer)
        except KafkaException as exc:
            with self._lock:
                self._consumer_error = f"metadata: {exc.args[0] if exc.args else exc}"
            return
        topic = meta.topics.get(self.topic)
        if topic is None or topic.error is not None:
            with self._lock:
                self._consumer_error = f"topic {self.topic!r} not found" + (
                    f" ({topic.error.str()})" if topic is not None and topic.error else ""
                )
            return
        new = sorted(set(topic.partitions) - assigned)
        if not new:
            with self._lock:
                self._consumer_error = None
            return
        start = OFFSET_BEGINNING if self.from_beginning else OFFSET_END
        if assigned:
            start = OFFSET_BEGINNING  # a partition added while we watch: read it all
        consumer.incremental_assign([TopicPartition(self.topic, p, start) for p in new])
        assigned.update(new)
        with self._lock:
            self._consumer_error = None
        log.debug("array view: assigned %s[%s]", self.topic, new)
