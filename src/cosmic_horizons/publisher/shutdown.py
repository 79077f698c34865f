"""A publisher's shutdown: flush, purge what is left, stop its threads, report."""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Self

from confluent_kafka import Producer

from ..errors import AuthorizationError, PublishError
from ..spool import Spool
from ..stats import PublisherStats
from .forward import Forwarder
from .metadata import LegacyPlacement
from .models import DeliveryReport
from .watch import ProducerWatch

__all__ = ["Shutdown"]

log = logging.getLogger("cosmic_horizons.publisher.core")


class Shutdown:
    """:class:`~.core.Publisher`'s close, its report, and the stop on a refusal."""

    stats: PublisherStats
    _closed: threading.Event
    _closed_flag: bool
    _forward: Forwarder | None
    _legacy: LegacyPlacement | None
    _metadata_timeout: float
    _poller: threading.Thread
    _producer: Producer
    _spool: Spool | None
    _watch: ProducerWatch

    def close(self, timeout: float = 30.0) -> DeliveryReport:
        """Flush for up to ``timeout`` s; what is still queued then is purged and counted failed."""
        if self._closed.is_set():
            return self._report(0)
        self._closed_flag = True
        if self._forward is not None:
            report = self._close_spooled(timeout)
            if self._watch.refused is not None:
                raise self._watch.refused
            return report
        remaining = self._watch.flush_unless_refused(self._producer, timeout)
        if self._watch.refused is not None:
            self._stop_refused(self._watch.refused)
        if remaining:
            log.error(
                "%d packets not delivered within %.0f s of shutdown; counting them failed",
                remaining,
                timeout,
            )
            self._producer.purge(in_queue=True, in_flight=True, blocking=False)
            self._producer.flush(5.0)  # serves the purge delivery reports
        self._stop_threads()
        return self._report(remaining)

    def _stop_refused(self, refused: AuthorizationError | None) -> None:
        """The principal may not write: nothing more is taken or retried; raise why."""
        if not self._closed.is_set():
            self._closed_flag = True
            if self._forward is not None:
                self._forward.close(0.0)
            self._producer.purge(in_queue=True, in_flight=True, blocking=False)
            self._producer.flush(2.0)  # serves the purge reports
            self._stop_threads()
        raise refused or PublishError("the publisher is closed")

    def _stop_threads(self) -> None:
        self._closed.set()
        self._poller.join(5.0)
        if self._legacy is not None:
            self._legacy.close(self._metadata_timeout + 5.0)
        self._producer.close()

    def _close_spooled(self, timeout: float) -> DeliveryReport:
        """Deliver what can be within ``timeout`` s (not waiting out an outage); the rest
        stays in the spool, never purged unspooled, reported in one line by the caller."""
        assert self._forward is not None and self._spool is not None
        left = self._forward.close(timeout)
        self._stop_threads()
        return self._report(0, spooled=left)

    def _report(self, undelivered: int, *, spooled: int = 0) -> DeliveryReport:
        snap = self.stats.snapshot()
        return DeliveryReport(
            sent=snap.sent,
            delivered=snap.delivered,
            failed=snap.failed,
            undelivered_at_close=undelivered,
            spooled=spooled,
            spool_path=None if self._spool is None else str(self._spool.path),
            dropped=0 if self._spool is None else self._spool.dropped,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
