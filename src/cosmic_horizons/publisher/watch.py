"""How the publisher watches its producer: client errors classified and said once, and
stalls (packets waiting, none delivered) diagnosed and reported once each."""

from __future__ import annotations

import logging
import threading
import time
from typing import Final

from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import Message, Producer

from ..acls import Resource, lacking
from ..config import KafkaSettings
from ..errors import AuthorizationError, classify_security, note_client_error
from ..stats import PublisherStats
from .diagnose import why_stalled
from .forward import Forwarder

__all__ = ["STALL_REPORT_S", "ProducerWatch"]

log = logging.getLogger("cosmic_horizons.publisher.core")

#: Errors reported while a broker is still starting (the spec ignores "Metadata" errors).
STARTUP_GRACE_S: Final = 30.0
#: Packets in flight and none delivered for this long: a stall, reported once (librdkafka
#: retries NOT_ENOUGH_REPLICAS and timeouts silently until message.timeout.ms).
STALL_REPORT_S: Final = 5.0
#: A transient client error (broker down, connection refused) is said at most this often.
TRANSIENT_REPEAT_S: Final = 60.0
_TRANSIENT_CODES: Final = frozenset(
    {
        RdKafkaError._TRANSPORT,
        RdKafkaError._ALL_BROKERS_DOWN,
        RdKafkaError._RESOLVE,
        RdKafkaError.LEADER_NOT_AVAILABLE,
        RdKafkaError.NOT_LEADER_FOR_PARTITION,
        RdKafkaError.UNKNOWN_TOPIC_OR_PART,
        RdKafkaError.BROKER_NOT_AVAILABLE,
    }
)


#: What a producer's principal lacks when the broker answers with each code.
_LACKING: Final[dict[int, tuple[str, Resource]]] = {
    RdKafkaError.TOPIC_AUTHORIZATION_FAILED: ("Write", "topic"),
    RdKafkaError.CLUSTER_AUTHORIZATION_FAILED: ("IdempotentWrite", "cluster"),
}


class ProducerWatch:
    """The error callback and the stall watch of one publisher."""

    def __init__(self, settings: KafkaSettings, topic: str, *, acks_all: bool) -> None:
        self.settings = settings
        self.topic = topic
        self.acks_all = acks_all
        self.stats = PublisherStats()
        self.forward: Forwarder | None = None
        self.started = time.monotonic()
        self.stalls = 0
        self._stalled_since: float | None = None
        self._transient_warned: dict[int, float] = {}  # error code: when last said
        #: The first authorization refusal seen: publishing stops at it (no retrying).
        self.refused: AuthorizationError | None = None

    def note_refused(self, err: RdKafkaError) -> bool:
        """True when ``err`` is an authorization refusal (the first is kept, naming the ACL)."""
        code = err.code()
        text = err.str()
        if code not in _LACKING and "cluster authorization failed" in text.lower():
            code = RdKafkaError.CLUSTER_AUTHORIZATION_FAILED  # a fatal error wrapping it
        refused = classify_security(code, text)
        if not isinstance(refused, AuthorizationError):
            return False
        if self.refused is None:
            operation, resource = _LACKING.get(code, ("Write", "topic"))
            self.refused = lacking(refused, self.settings, operation, resource, self.topic)
            log.debug("producer refused: %s", self.refused)
        return True

    def flush_unless_refused(self, producer: Producer, timeout: float) -> int:
        """``producer.flush(timeout)``, cut short by an authorization refusal; still queued."""
        deadline = time.monotonic() + timeout
        while True:
            left = int(producer.flush(min(0.2, max(0.0, deadline - time.monotonic()))))
            if not left or self.refused is not None or time.monotonic() >= deadline:
                return left

    def on_error(self, err: RdKafkaError) -> None:
        """librdkafka's error_cb: classified, said once per outage, not once a second."""
        # A SASL/TLS failure explains the transport errors that follow it.
        note_client_error(err, self.settings.bootstrap_servers)
        if self.note_refused(err):
            return  # said once, by whoever publishes next or closes
        if self.forward is not None and err.code() == RdKafkaError._ALL_BROKERS_DOWN:
            self.forward.note_outage(f"{err.name()}: {err.str()}")
            self.stats.record_error(f"{err.name()}: {err.str()}")
            return
        starting = time.monotonic() - self.started < STARTUP_GRACE_S and self.stats.delivered() == 0
        if err.code() in _TRANSIENT_CODES and starting and not err.fatal():
            log.debug("broker not ready yet (%s: %s)", err.name(), err.str())
            return
        reason = f"{err.name()}: {err.str()}"
        self.stats.record_error(reason)
        spooling = self.forward is not None and self.forward.outage is not None
        now = time.monotonic()
        last = self._transient_warned.get(err.code())
        if err.code() in _TRANSIENT_CODES and (
            spooling or (last is not None and now - last < TRANSIENT_REPEAT_S)
        ):
            log.debug("producer: %s", reason)  # said once a minute, not once a second
            return
        if err.fatal():
            log.critical("fatal producer error: %s", reason)
        elif err.code() in _TRANSIENT_CODES:
            self._transient_warned[err.code()] = now
            log.warning("producer: %s (librdkafka keeps retrying; said once a minute)", reason)
        else:
            log.error("producer error: %s", reason)

    def on_delivery(
        self, err: RdKafkaError | None, msg: Message, refresh: threading.Event | None
    ) -> None:
        """A failed delivery (without a spool): counted, logged for the first few; an
        unknown partition sets ``refresh`` (kafkajs-legacy re-reads the count)."""
        if err is None:  # not reported with delivery.report.only.error, unless overridden
            return
        if err.code() == RdKafkaError._UNKNOWN_PARTITION and refresh is not None:
            refresh.set()
        if self.note_refused(err):
            self.stats.record_failed(f"{err.name()}: {err.str()}")
            return
        reason = f"{err.name()}: {err.str()}"
        self.stats.record_failed(reason)
        seen = self.stats.failures[reason.split(":", 1)[0]]
        if seen <= 3:  # one line per packet would be thousands in an outage
            log.error("packet for key %r to %s not delivered: %s", msg.key(), msg.topic(), reason)
        elif seen == 4:
            log.error("more packets fail with %s: counted, not logged", err.name())

    def stall(self, now: float, progress: tuple[float, int], waiting: int) -> tuple[float, int]:
        """Report, in one line and in the stats, deliveries stopped with ``waiting`` packets
        in librdkafka's queue; ``progress``: when the delivered count last changed, and to
        what (returned updated)."""
        # With a spool, progress is acknowledgements (sent and spooled grow together).
        delivered = self.stats.delivered() if self.forward is None else self.forward.acked
        if delivered != progress[1] or waiting == 0:
            if self._stalled_since is not None:
                log.warning("deliveries resumed after %.1f s stalled", now - self._stalled_since)
                self._stalled_since = None
            return now, delivered
        stalled_for = now - progress[0]
        if self._stalled_since is None and stalled_for >= STALL_REPORT_S:
            why = why_stalled(self.settings, self.topic, self.acks_all)
            if why is None and stalled_for < 3 * STALL_REPORT_S:
                return progress  # metadata did not answer: ask again on the next tick
            self._stalled_since = progress[0]
            self.stalls += 1
            reason = (
                f"STALLED: no delivery to {self.topic} for {stalled_for:.0f} s, "
                f"{waiting} packets waiting (librdkafka keeps retrying); "
                f"{why or 'topic metadata unavailable'}"
            )
            self.stats.record_error(reason)
            log.error("producer: %s", reason)
            if self.forward is not None:
                self.forward.note_outage("stalled")
        return progress
