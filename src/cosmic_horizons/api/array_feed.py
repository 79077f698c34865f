"""The array view's snapshot and its JSON, built at most once per interval and shared.

Every ``/api/array`` request and every ``/api/stream`` client reads the array through the one
:class:`ArrayFeed` of the app: the first caller after the interval builds and encodes a
snapshot, everyone else within the interval gets those same bytes. Ten dashboards cost one
snapshot a second, not ten; an answer is at most one interval old (its ``generatedAt`` says
when it was built).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final, NamedTuple

from ..array_view import ArraySnapshot, ArrayView
from .responses import encode

__all__ = ["ARRAY_INTERVAL_S", "ArrayFeed", "SharedSnapshot"]

#: Seconds a built snapshot is shared for (and between ``array`` events on /api/stream).
ARRAY_INTERVAL_S: Final = 1.0


class SharedSnapshot(NamedTuple):
    """One built snapshot, its JSON, and when it was built (monotonic seconds)."""

    snapshot: ArraySnapshot
    json: bytes
    built_at: float


class ArrayFeed:
    """Snapshots of ``view``, each built once and shared for ``interval`` seconds."""

    def __init__(
        self,
        view: ArrayView,
        interval: float = ARRAY_INTERVAL_S,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.view = view
        self.interval = interval
        self._clock = clock
        self._build_lock = threading.Lock()
        self._latest: SharedSnapshot | None = None
        self.builds = 0
        """Snapshots built so far."""

    def fresh(self) -> SharedSnapshot | None:
        """The shared snapshot if it is younger than the interval (never waits, never builds)."""
        latest = self._latest
        if latest is not None and self._clock() - latest.built_at < self.interval:
            return latest
        return None

    def latest(self) -> SharedSnapshot:
        """The shared snapshot, built now if it is older than the interval.

        One caller builds at a time; callers that arrive meanwhile wait and share its result.
        """
        shared = self.fresh()
        if shared is not None:
            return shared
        with self._build_lock:
            shared = self.fresh()  # built while this caller waited for the lock
            if shared is None:
                started = self._clock()
                snapshot = self.view.snapshot()
                shared = self._latest = SharedSnapshot(snapshot, encode(snapshot), started)
                self.builds += 1
            return shared
