"""What the API serves from: the components of this process and a cache the poller keeps fresh.

Requests never talk to the broker. A background thread polls the monitor every
``poll_interval`` seconds and stores the latest snapshot, lag and topic list; endpoints read
that cache, so a dead broker slows nothing but the poller.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from ..array_view import ArrayView
from ..cluster import make_admin
from ..config import KafkaSettings
from ..errors import rdkafka_error_of
from ..monitor import Monitor
from ..monitor.models import GroupLag, KafkaSnapshot
from ..publisher import Publisher
from ..scaling.exporter import BrokerMetricsReader, broker_metrics_urls
from ..topics.summary import summarize_topic
from .array_feed import ARRAY_INTERVAL_S, ArrayFeed
from .models import DataPlaneUpdate, LagReport, ServiceStats, TopicInfo, TopicsReport
from .responses import encode

__all__ = ["ApiState", "DataPlaneCache", "StatsProvider"]

log = logging.getLogger(__name__)

#: Returns a component's stats (a msgspec Struct, or anything msgspec encodes), or None.
StatsProvider = Callable[[], object]


_NOT_POLLED: Final = "not polled yet"


@dataclass(frozen=True, slots=True)
class _Cached:
    snapshot: KafkaSnapshot | None = None
    lag: LagReport = field(
        default_factory=lambda: LagReport(groups=[], polled_at=None, error=_NOT_POLLED)
    )
    topics: TopicsReport = field(
        default_factory=lambda: TopicsReport(topics=[], polled_at=None, error=_NOT_POLLED)
    )
    version: int = 0


class DataPlaneCache:
    """Polls the monitor in a background thread and keeps the latest answers."""

    def __init__(self, monitor: Monitor, settings: KafkaSettings, interval: float = 2.0) -> None:
        self.monitor = monitor
        self.settings = settings
        self.interval = interval
        self._cached = _Cached()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._admin: AdminClient | None = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def version(self) -> int:
        """Goes up by one at every completed poll."""
        return self._cached.version

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="api-poller", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # -- reading ---------------------------------------------------------------------------

    @property
    def snapshot(self) -> KafkaSnapshot | None:
        return self._cached.snapshot

    @property
    def lag(self) -> LagReport:
        return self._cached.lag

    @property
    def topics(self) -> TopicsReport:
        return self._cached.topics

    # -- polling ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.poll_once()
            except Exception:  # the poller must outlive any surprise
                log.exception("API poller: poll failed")
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def poll_once(self) -> None:
        """Poll the monitor (snapshot, lag) and the topic list once, then publish the results."""
        try:
            snapshot = self.monitor.poll()
        except Exception as exc:  # the contract says never; a surprise must not look healthy
            log.exception("API poller: monitor.poll raised")
            snapshot = KafkaSnapshot(
                connected=False,
                topic=self.monitor.topic,
                polled_at=time.time(),
                error=f"monitor failed: {type(exc).__name__}: {exc}",
            )
        now = time.time()
        if snapshot.connected:
            lag = self._poll_lag(now)
            topics = self._poll_topics(now)
        else:
            # the snapshot's error says it already; the same line, not a longer copy of it
            reason = snapshot.error or "broker unreachable"
            lag = LagReport(groups=[], polled_at=now, error=reason)
            topics = TopicsReport(topics=[], polled_at=now, error=reason)
        with self._lock:
            self._cached = _Cached(
                snapshot=snapshot, lag=lag, topics=topics, version=self._cached.version + 1
            )

    def _poll_lag(self, now: float) -> LagReport:
        try:
            groups: list[GroupLag] = self.monitor.lag()
        except Exception as exc:
            return LagReport(groups=[], polled_at=now, error=str(exc))
        groups.sort(key=lambda g: g.group)
        return LagReport(groups=groups, polled_at=now, error=None)

    def _poll_topics(self, now: float) -> TopicsReport:
        monitored = self.monitor.topic
        try:
            if self._admin is None:
                self._admin = make_admin(self.settings)
            meta = self._admin.list_topics(timeout=5.0)
        except KafkaException as exc:
            err = rdkafka_error_of(exc)
            reason = err.str() if err is not None else str(exc)
            return TopicsReport(topics=[], polled_at=now, error=f"topic list unavailable: {reason}")
        topics: list[TopicInfo] = []
        for name in sorted(meta.topics):
            if name.startswith("__"):
                continue
            t = meta.topics[name]
            summary = summarize_topic(name, t)
            topics.append(
                TopicInfo(
                    name=name,
                    partitions=summary.partitions,
                    replication_factor=summary.replication_factor,
                    under_replicated_partitions=summary.under_replicated,
                    monitored=name == monitored,
                    error=t.error.str() if t.error is not None else None,
                )
            )
        return TopicsReport(topics=topics, polled_at=now, error=None)


@dataclass
class ApiState:
    """The components the API reports on.

    ``monitor`` is required; ``array`` (the array view), ``publisher`` and every
    ``extra_stats`` provider are optional. Providers are called on request and should be cheap;
    the archiver registers one as ``extra_stats["archiver"]``. The array is read through
    :attr:`array_feed` (one snapshot per ``array_interval`` for every request and stream).
    """

    settings: KafkaSettings
    monitor: Monitor
    array: ArrayView | None = None
    publisher: Publisher | None = None
    extra_stats: dict[str, StatsProvider] = field(default_factory=dict)
    poll_interval: float = 2.0
    #: The ``cluster_name`` label of the kafka-lag-exporter metrics.
    cluster_name: str = "default"
    #: The brokers' JMX exporters (``HORIZONS_BROKER_METRICS``), read by the dashboard.
    broker_metrics: BrokerMetricsReader = field(
        default_factory=lambda: BrokerMetricsReader(broker_metrics_urls())
    )
    #: Seconds one array snapshot is shared for by /api/array and every /api/stream client.
    array_interval: float = ARRAY_INTERVAL_S
    cache: DataPlaneCache = field(init=False)
    closing: threading.Event = field(init=False, default_factory=threading.Event)
    started_at: float = field(init=False, default_factory=time.time)

    _feed: ArrayFeed | None = field(init=False, default=None, repr=False)
    _update: tuple[int, bytes] | None = field(init=False, default=None, repr=False)
    _update_lock: threading.Lock = field(init=False, default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.cache = DataPlaneCache(self.monitor, self.settings, self.poll_interval)
        if self.array is not None:
            self._feed = ArrayFeed(self.array, self.array_interval)

    @property
    def array_feed(self) -> ArrayFeed | None:
        """The shared snapshots of :attr:`array` (None when this process runs no array view)."""
        feed = self._feed
        if self.array is None:
            return None
        if feed is None or feed.view is not self.array:  # the view was replaced
            feed = self._feed = ArrayFeed(self.array, self.array_interval)
        return feed

    def service_stats(self) -> ServiceStats:
        """Publisher stats and every extra provider's stats (a failing provider says why)."""
        components: dict[str, Any] = {}
        for name, provider in self.extra_stats.items():
            try:
                value = provider()
                components[name] = None if value is None else msgspec.to_builtins(value)
            except Exception as exc:
                log.warning("stats provider %r failed: %s", name, exc)
                components[name] = {"error": f"{type(exc).__name__}: {exc}"}
        return ServiceStats(
            publisher=self.publisher.snapshot() if self.publisher is not None else None,
            components=components,
        )

    def data_plane(self) -> DataPlaneUpdate:
        return DataPlaneUpdate(
            snapshot=self.cache.snapshot,
            lag=self.cache.lag,
            topics=self.cache.topics,
            stats=self.service_stats(),
        )

    def data_plane_json(self) -> tuple[int, bytes]:
        """The poll version and the JSON of :meth:`data_plane`, built once per poll for all."""
        with self._update_lock:  # clients woken by the same poll wait for one build, not N
            version = self.cache.version
            cached = self._update
            if cached is None or cached[0] != version:
                cached = self._update = (version, encode(self.data_plane()))
            return cached
