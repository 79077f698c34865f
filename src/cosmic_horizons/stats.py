"""Counters and rates: what was sent, delivered and failed, and how fast."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable

import msgspec

__all__ = ["PublisherStats", "SpoolStats", "StatsSnapshot"]


class SpoolStats(msgspec.Struct, frozen=True, kw_only=True):
    """The publisher's spool (store and forward), when it has one."""

    path: str
    records: int
    """Packets spooled, not yet acknowledged."""
    bytes: int
    oldest_age_s: float | None
    drain_rate: float
    """Packets acknowledged per second, last seconds."""
    time_to_drain_s: float | None
    """At the rate the backlog shrinks now; None when it does not shrink."""
    spooling: bool
    """True while new packets wait behind the spool (an outage, or a drain in progress)."""
    outage: str | None
    dropped: int
    corrupt: int


class StatsSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A consistent copy of the publisher counters at one instant."""

    sent: int
    delivered: int
    failed: int
    in_flight: int
    bytes: int
    rate: float
    """Delivered packets per second over the last five seconds."""
    last_error: str | None
    last_error_at: float | None
    """Unix time of ``last_error``."""
    failures_by_reason: dict[str, int]
    started_at: float
    uptime_s: float
    spool: SpoolStats | None = None


class PublisherStats:
    """Thread-safe counters of one publisher.

    Successful deliveries are not reported one by one (that would cost a Python callback per
    packet); ``delivered`` is derived as ``sent - failed - pending``, where ``pending`` counts
    packets still queued or in flight. It is exact whenever the queue is drained.
    """

    def __init__(self, pending: Callable[[], int] = lambda: 0, *, rate_window: float = 5.0) -> None:
        self._lock = threading.Lock()
        self._pending = pending
        self.failed = 0
        # [sent, bytes] per publishing thread: each list is written by its own thread only,
        # so counting needs no lock on the hot path.
        self._local = threading.local()
        self._per_thread: list[list[int]] = []
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.failures: Counter[str] = Counter()
        self.started_at = time.time()
        self._rate_window = rate_window
        self._samples: deque[tuple[float, int]] = deque([(time.monotonic(), 0)])

    def record_sent(self, nbytes: int) -> None:
        self.record_sent_many(1, nbytes)

    def record_sent_many(self, count: int, nbytes: int) -> None:
        try:
            counts: list[int] = self._local.counts
        except AttributeError:
            counts = self._local.counts = [0, 0]
            with self._lock:
                self._per_thread.append(counts)
        counts[0] += count
        counts[1] += nbytes

    @property
    def sent(self) -> int:
        return sum(c[0] for c in self._per_thread)

    @property
    def bytes(self) -> int:
        return sum(c[1] for c in self._per_thread)

    def record_failed(self, reason: str) -> None:
        with self._lock:
            self.failed += 1
            self.failures[reason.split(":", 1)[0]] += 1
            self.last_error = reason
            self.last_error_at = time.time()

    def record_error(self, reason: str) -> None:
        """An error that is not a lost packet (a client error, for example)."""
        with self._lock:
            self.last_error = reason
            self.last_error_at = time.time()

    def _delivered(self, pending: int) -> int:
        return max(0, self.sent - self.failed - pending)

    def delivered(self) -> int:
        pending = self._pending()
        with self._lock:
            return self._delivered(pending)

    def sample(self) -> None:
        """Remember the delivered count now, for :attr:`StatsSnapshot.rate`."""
        now = time.monotonic()
        delivered = self.delivered()
        with self._lock:
            self._samples.append((now, delivered))
            while len(self._samples) > 2 and self._samples[1][0] < now - self._rate_window:
                self._samples.popleft()

    def snapshot(self) -> StatsSnapshot:
        self.sample()
        pending = self._pending()
        with self._lock:
            delivered = self._delivered(pending)
            (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
            rate = (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0
            return StatsSnapshot(
                sent=self.sent,
                delivered=delivered,
                failed=self.failed,
                in_flight=self.sent - delivered - self.failed,
                bytes=self.bytes,
                rate=round(rate, 3),
                last_error=self.last_error,
                last_error_at=self.last_error_at,
                failures_by_reason=dict(self.failures),
                started_at=self.started_at,
                uptime_s=round(time.time() - self.started_at, 3),
            )
