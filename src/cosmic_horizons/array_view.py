"""A live view of the array: the latest metrics of every element, read from ``element.raw_data``.

:class:`ArrayView` reads the topic in a background thread with its own consumer. It assigns the
topic's partitions directly (no group membership, no commits), so it never shows up as a lagging
consumer group and never moves anyone's offsets. It starts at the end of the topic by default
(``from_beginning=True`` replays what the topic holds).

Health of one element, worst rule wins (thresholds in :class:`HealthThresholds`):

=========  ========================================================================
``stale``  no packet for ``stale_after_s`` seconds (its last metrics are shown greyed)
``alarm``  RFI above ``rfi_alarm_dbm``, or noise floor above ``noise_alarm_dbm``
``warn``   RFI above ``rfi_warn_dbm``, noise floor above ``noise_warn_dbm`` or below
           ``noise_low_dbm`` (a receiver chain that went quiet is as suspect as a hot one)
``ok``     everything else
=========  ========================================================================

The defaults fit the array's receivers: a noise floor near -100 dBm with RFI a few dB above it
in quiet sky; aircraft and satellite bursts reach -70 to -45 dBm.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final, Literal

import msgspec
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition
from confluent_kafka import KafkaError as RdKafkaError

from .clients import consumer_config
from .config import KafkaSettings
from .errors import ConfigError, PacketError
from .packet import KafkaPayload, decode_packet

__all__ = [
    "ArraySnapshot",
    "ArrayView",
    "ElementHealth",
    "ElementState",
    "HealthThresholds",
    "RatePoint",
    "SiteSummary",
    "classify",
]

log = logging.getLogger(__name__)

ElementHealth = Literal["ok", "warn", "alarm", "stale"]
"""How healthy one array element is (not the data plane: see ``monitor.health``)."""
HEALTH_ORDER: Final[tuple[ElementHealth, ...]] = ("ok", "warn", "alarm", "stale")
#: Seconds of per-second message counts kept for the rate chart.
RATE_HISTORY_S: Final = 300
#: Most elements tracked: packets from further element ids are counted, not kept (a producer
#: bug minting a new id per packet must not exhaust memory or the dashboard).
MAX_ELEMENTS: Final = 4096
#: How often the consumer looks for new partitions (or for the topic to appear).
METADATA_REFRESH_S: Final = 10.0


class HealthThresholds(msgspec.Struct, frozen=True, kw_only=True):
    """Limits that turn an element's metrics into ok / warn / alarm / stale (dBm, seconds)."""

    rfi_warn_dbm: float = -80.0
    rfi_alarm_dbm: float = -60.0
    noise_warn_dbm: float = -90.0
    noise_alarm_dbm: float = -80.0
    noise_low_dbm: float = -125.0
    stale_after_s: float = 30.0

    def __post_init__(self) -> None:
        if self.rfi_alarm_dbm < self.rfi_warn_dbm:
            raise ConfigError("health thresholds: rfi_alarm_dbm must be >= rfi_warn_dbm")
        if self.noise_alarm_dbm < self.noise_warn_dbm:
            raise ConfigError("health thresholds: noise_alarm_dbm must be >= noise_warn_dbm")
        if self.noise_low_dbm >= self.noise_warn_dbm:
            raise ConfigError("health thresholds: noise_low_dbm must be below noise_warn_dbm")
        if self.stale_after_s <= 0:
            raise ConfigError("health thresholds: stale_after_s must be positive")


def classify(
    rfi_level: float, noise_floor: float, age_s: float, limits: HealthThresholds
) -> tuple[ElementHealth, list[str]]:
    """The health of one element and the reasons for it (empty when ok)."""
    if age_s > limits.stale_after_s:
        return "stale", [f"no packet for {age_s:.0f} s (stale after {limits.stale_after_s:g} s)"]
    alarms: list[str] = []
    warns: list[str] = []
    if rfi_level > limits.rfi_alarm_dbm:
        alarms.append(f"RFI {rfi_level:.1f} dBm > {limits.rfi_alarm_dbm:g} dBm")
    elif rfi_level > limits.rfi_warn_dbm:
        warns.append(f"RFI {rfi_level:.1f} dBm > {limits.rfi_warn_dbm:g} dBm")
    if noise_floor > limits.noise_alarm_dbm:
        alarms.append(f"noise floor {noise_floor:.1f} dBm > {limits.noise_alarm_dbm:g} dBm")
    elif noise_floor > limits.noise_warn_dbm:
        warns.append(f"noise floor {noise_floor:.1f} dBm > {limits.noise_warn_dbm:g} dBm")
    elif noise_floor < limits.noise_low_dbm:
        warns.append(f"noise floor {noise_floor:.1f} dBm < {limits.noise_low_dbm:g} dBm")
    if alarms:
        return "alarm", alarms + warns
    if warns:
        return "warn", warns
    return "ok", []


class ElementState(msgspec.Struct, frozen=True, kw_only=True):
    """The latest packet of one element, and how it looks."""

    element_id: str = msgspec.field(name="elementId")
    site_id: str = msgspec.field(name="siteId")
    source_id: str = msgspec.field(name="sourceId")
    target_id: str = msgspec.field(name="targetId")
    route_type: str = msgspec.field(name="routeType")
    timestamp: str
    """The packet's own timestamp (ISO 8601)."""
    vibration: float
    power_usage: float = msgspec.field(name="powerUsage")
    noise_floor: float = msgspec.field(name="noiseFloor")
    rfi_level: float = msgspec.field(name="rfiLevel")
    has_chunk: bool = msgspec.field(name="hasChunk")
    packets: int
    """Packets seen from this element since the view started."""
    last_seen: float = msgspec.field(name="lastSeen")
    """Unix time the last packet was read."""
    age_s: float = msgspec.field(name="ageS")
    partition: int
    offset: int
    health: ElementHealth
    reasons: list[str]


class SiteSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Aggregates over the elements of one site."""

    site_id: str = msgspec.field(name="siteId")
    elements: int
    ok: int
    warn: int
    alarm: int
    stale: int
    mean_rfi: float | None = msgspec.field(name="meanRfi")
    max_rfi: float | None = msgspec.field(name="maxRfi")
    mean_noise_floor: float | None = msgspec.field(name="meanNoiseFloor")
    last_seen: float | None = msgspec.field(name="lastSeen")
    health: ElementHealth
    """The site's worst element among those not stale; ``stale`` when all are."""


class RatePoint(msgspec.Struct, frozen=True):
    """Records read during one second."""

    t: int
    """Unix time (whole seconds)."""
    count: int


class ArraySnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the array view knows at one instant."""

    topic: str
    running: bool
    from_beginning: bool = msgspec.field(name="fromBeginning")
    started_at: float = msgspec.field(name="startedAt")
    generated_at: float = msgspec.field(name="generatedAt")
    records: int
    """Records read since start (good and bad)."""
    undecodable: int
    """Records that were not valid packets (counted, skipped)."""
    untracked: int
    """Valid packets from element ids beyond the tracking limit (counted, not shown)."""
    last_decode_error: str | None = msgspec.field(name="lastDecodeError")
    consumer_error: str | None = msgspec.field(name="consumerError")
    rate: float
    """Records per second over the last 10 s."""
    rate_history: list[RatePoint] = msgspec.field(name="rateHistory")
    thresholds: HealthThresholds
    sites: list[SiteSummary]
    elements: list[ElementState]


class _Element:
    __slots__ = ("last_seen", "offset", "packet", "packets", "partition")

    def __init__(self, packet: KafkaPayload) -> None:
        self.packet = packet
        self.packets = 0
        self.last_seen = 0.0
        self.partition = 0
        self.offset = 0


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

    def ingest(self, value: bytes | None, *, partition: int = 0, offset: int = -1) -> bool:
        """Take one record value; False (and counted) when it is not a valid packet."""
        now = self._clock()
        second = int(now)
        with self._lock:
            self._records += 1
            if self._counts and self._counts[-1][0] == second:
                self._counts[-1][1] += 1
            else:
                self._counts.append([second, 1])
        try:
            if value is None:
                raise PacketError("$", "empty record (no value)")
            packet = decode_packet(value)
        except PacketError as exc:
            with self._lock:
                self._undecodable += 1
                self._last_decode_error = f"partition {partition} offset {offset}: {exc}"
            return False
        with self._lock:
            el = self._elements.get(packet.element_id)
            if el is None:
                if len(self._elements) >= self.max_elements:
                    self._untracked += 1
                    return True
                el = self._elements[packet.element_id] = _Element(packet)
            el.packet = packet
            el.packets += 1
            el.last_seen = now
            el.partition = partition
            el.offset = offset
        return True

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self) -> ArraySnapshot:
        """A consistent copy of the view: elements sorted by site then id, sites by id."""
        now = self._clock()
        limits = self.thresholds
        with self._lock:
            items = [
                (eid, el.packet, el.packets, el.last_seen, el.partition, el.offset)
                for eid, el in self._elements.items()
            ]
            records, undecodable, untracked = self._records, self._undecodable, self._untracked
            decode_error, consumer_error = self._last_decode_error, self._consumer_error
            counts = [(s, c) for s, c in self._counts]
        elements: list[ElementState] = []
        for eid, p, packets, last_seen, partition, offset in items:
            m = p.metrics
            age = max(0.0, now - last_seen)
            health, reasons = classify(m.rfi_level, m.noise_floor, age, limits)
            elements.append(
                ElementState(
                    element_id=eid,
                    site_id=p.site_id,
                    source_id=p.source_id,
                    target_id=p.target_id,
                    route_type=p.route_type,
                    timestamp=p.timestamp,
                    vibration=m.vibration,
                    power_usage=m.power_usage,
                    noise_floor=m.noise_floor,
                    rfi_level=m.rfi_level,
                    has_chunk=p.data_chunk is not None,
                    packets=packets,
                    last_seen=last_seen,
                    age_s=round(age, 3),
                    partition=partition,
                    offset=offset,
                    health=health,
                    reasons=reasons,
                )
            )
        elements.sort(key=lambda e: (e.site_id, _natural_key(e.element_id)))
        return ArraySnapshot(
            topic=self.topic,
            running=self.running,
            from_beginning=self.from_beginning,
            started_at=self._started_at,
            generated_at=now,
            records=records,
            undecodable=undecodable,
            untracked=untracked,
            last_decode_error=decode_error,
            consumer_error=consumer_error,
            rate=_recent_rate(counts, now),
            rate_history=_history(counts, int(now)),
            thresholds=limits,
            sites=summarize_sites(elements),
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
                        msg.value(), partition=msg.partition() or 0, offset=msg.offset() or 0
                    )
        except Exception:  # keep the thread's death visible rather than silent
            log.exception("array view consumer stopped")
            with self._lock:
                self._consumer_error = "consumer thread stopped; see the log"
        finally:
            consumer.close()

    def _assign_new(self, consumer: Consumer, assigned: set[int]) -> None:
        """Assign partitions of the topic not yet assigned (the topic may appear or grow)."""
        try:
            meta = consumer.list_topics(self.topic, timeout=5.0)
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


def summarize_sites(elements: list[ElementState]) -> list[SiteSummary]:
    """Per-site aggregates; RFI and noise statistics leave stale elements out."""
    by_site: dict[str, list[ElementState]] = {}
    for e in elements:
        by_site.setdefault(e.site_id, []).append(e)
    sites: list[SiteSummary] = []
    for site_id in sorted(by_site, key=_natural_key):
        members = by_site[site_id]
        counts = dict.fromkeys(HEALTH_ORDER, 0)
        for e in members:
            counts[e.health] += 1
        live = [e for e in members if e.health != "stale"]
        rfi = [e.rfi_level for e in live]
        noise = [e.noise_floor for e in live]
        if not live:
            health: ElementHealth = "stale"
        elif counts["alarm"]:
            health = "alarm"
        elif counts["warn"]:
            health = "warn"
        else:
            health = "ok"
        sites.append(
            SiteSummary(
                site_id=site_id,
                elements=len(members),
                ok=counts["ok"],
                warn=counts["warn"],
                alarm=counts["alarm"],
                stale=counts["stale"],
                mean_rfi=round(sum(rfi) / len(rfi), 2) if rfi else None,
                max_rfi=max(rfi) if rfi else None,
                mean_noise_floor=round(sum(noise) / len(noise), 2) if noise else None,
                last_seen=max(e.last_seen for e in members),
                health=health,
            )
        )
    return sites


def _natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort ``element-1-10`` after ``element-1-9``."""
    parts: list[tuple[int, int | str]] = []
    for chunk in _split_digits(text):
        parts.append((0, int(chunk)) if chunk.isdigit() else (1, chunk))
    return tuple(parts)


def _split_digits(text: str) -> list[str]:
    out: list[str] = []
    cur = ""
    for ch in text:
        if cur and ch.isdigit() != cur[-1].isdigit():
            out.append(cur)
            cur = ""
        cur += ch
    if cur:
        out.append(cur)
    return out


def _recent_rate(counts: list[tuple[int, int]], now: float, window: int = 10) -> float:
    """Records per second over the last ``window`` whole seconds (the current one excluded)."""
    current = int(now)
    total = sum(c for s, c in counts if current - window <= s < current)
    return round(total / window, 2)


def _history(counts: list[tuple[int, int]], now: int) -> list[RatePoint]:
    """One point per second for the last :data:`RATE_HISTORY_S` s, zeros filled in."""
    by_second = dict(counts)
    start = now - RATE_HISTORY_S + 1
    return [RatePoint(s, by_second.get(s, 0)) for s in range(start, now + 1)]
