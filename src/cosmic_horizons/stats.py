"""Counters and rates: what was sent, delivered and failed, and how fast."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable

import msgspec

__all__ = ["PublisherStats", "RateMeter", "StatsSnapshot"]


class StatsSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A consistent copy of the publisher counters at one instant."""

    sent: int
    delivered: int
    failed: int
    in_flight: int
    bytes: int
    rate: float
    """Delivered packets per second over the last few seconds."""
    last_error: str | None
    last_error_at: float | None
    """Unix time of ``last_error``."""
    failures_by_reason: dict[str, int]
    started_at: float
    uptime_s: float


class RateMeter:
    """Events per second over the last ``window`` seconds (tenth-of-a-second buckets)."""

    def __init__(self, window: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._started = clock()
        self._buckets: deque[list[int]] = deque()  # [tick, count], tick = tenths of a second
        self._lock = threading.Lock()

    def add(self, n: int = 1) -> None:
        tick = int(self._clock() * 10)
        with self._lock:
            if self._buckets and self._buckets[-1][0] == tick:
                self._buckets[-1][1] += n
            else:
                self._buckets.append([tick, n])

    def rate(self) -> float:
        now = self._clock()
        horizon = int((now - self.window) * 10)
        with self._lock:
            while self._buckets and self._buckets[0][0] < horizon:
                self._buckets.popleft()
            total = sum(count for _, count in self._buckets)
        elapsed = min(self.window, now - self._started)
        return total / elapsed if elapsed > 0 else 0.0


class PublisherStats:
    """Thread-safe counters of one publisher."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = 0
        self.delivered = 0
        self.failed = 0
        self.bytes = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.failures: Counter[str] = Counter()
        self.started_at = time.time()
        self._rate = RateMeter()

    def record_sent(self, nbytes: int) -> None:
        with self._lock:
            self.sent += 1
            self.bytes += nbytes

    def record_delivered(self, n: int = 1) -> None:
        with self._lock:
            self.delivered += n
        self._rate.add(n)

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

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            return StatsSnapshot(
                sent=self.sent,
                delivered=self.delivered,
                failed=self.failed,
                in_flight=self.sent - self.delivered - self.failed,
                bytes=self.bytes,
                rate=round(self._rate.rate(), 3),
                last_error=self.last_error,
                last_error_at=self.last_error_at,
                failures_by_reason=dict(self.failures),
                started_at=self.started_at,
                uptime_s=round(time.time() - self.started_at, 3),
            )
