"""Store and forward: the publisher's side of the spool.

Write-ahead: every accepted packet is appended to the spool before ``publish`` returns, then
handed to librdkafka at once while the spool holds nothing older ("live"). A packet leaves
the spool only on its delivery acknowledgement. When delivery cannot happen (every broker
down, a retriable delivery failure, a stall, the local queue full past a short grace) the
publisher stops handing packets to librdkafka and a drain thread takes over: it sends what
the spool holds, oldest first, at a bounded rate, and publishing goes live again once it
has caught up. So the order: while the spool holds anything not yet sent, everything new is
spooled behind it (not per element: one queue keeps every element's order with no index).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final

import msgspec
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException, Message, Producer

from ..spool import Spool, SpoolStatus
from ..spool.records import Headers, SpoolRecord
from ..stats import PublisherStats, SpoolStats

__all__ = ["DRAIN_WINDOW", "Forwarder", "SpoolView"]

log = logging.getLogger(__name__)

#: Records the drain keeps in librdkafka's queue at most (what a crash may duplicate).
DRAIN_WINDOW: Final = 20_000
#: Delivery errors that mean "not now": the record stays spooled and is sent again.
RETRIABLE: Final = frozenset(
    {
        RdKafkaError._MSG_TIMED_OUT,
        RdKafkaError._TIMED_OUT,
        RdKafkaError._TRANSPORT,
        RdKafkaError._ALL_BROKERS_DOWN,
        RdKafkaError._PURGE_QUEUE,
        RdKafkaError._PURGE_INFLIGHT,
        RdKafkaError._UNKNOWN_TOPIC,
        RdKafkaError.UNKNOWN_TOPIC_OR_PART,
        RdKafkaError.NOT_ENOUGH_REPLICAS,
        RdKafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        RdKafkaError.REQUEST_TIMED_OUT,
        RdKafkaError.LEADER_NOT_AVAILABLE,
        RdKafkaError.NOT_LEADER_FOR_PARTITION,
        RdKafkaError.BROKER_NOT_AVAILABLE,
    }
)
_PURGED: Final = frozenset({RdKafkaError._PURGE_QUEUE, RdKafkaError._PURGE_INFLIGHT})

Record = tuple[bytes, bytes, int, Headers | None]


class SpoolView(msgspec.Struct, frozen=True, kw_only=True):
    """The spool as the stats, ``/metrics`` and the dashboard show it."""

    status: SpoolStatus
    drain_rate: float
    """Records acknowledged per second over the last seconds."""
    time_to_drain_s: float | None
    """At the rate the backlog shrinks now; None when it does not shrink."""
    outage: str | None
    """Why the publisher is spooling, or None while it delivers live."""
    live: bool


class Forwarder:
    """Moves records from the spool to librdkafka: live, or by the drain thread."""

    def __init__(
        self,
        spool: Spool,
        *,
        producer: Producer,
        topic: str,
        headers: Headers,
        partition_for: Callable[[bytes | None], int],
        stats: PublisherStats,
        probe: Callable[[], str | None],
        refused: Callable[[RdKafkaError], bool] = lambda _err: False,
    ) -> None:
        self.spool = spool
        self._refused = refused
        #: An authorization refusal came back: nothing more is sent (what was spooled stays).
        self.halted = False
        self._producer = producer
        self._topic = topic
        self._headers = headers
        self._partition_for = partition_for
        self._stats = stats
        self._probe = probe
        self._order = threading.Lock()  # publishers, one at a time: spool order = send order
        self._lock = threading.Lock()  # live/next, shared with the drain thread
        self._reader = spool.reader()
        self.interrupt = threading.Event()
        self._stop = threading.Event()
        self._closing = False
        self.outage: str | None = None
        self._rewind = False
        self.acked = 0
        self._samples: deque[tuple[float, int, int]] = deque(maxlen=20)
        self._failures_logged: dict[str, int] = {}
        backlog = spool.records
        self._live = backlog == 0
        self._next = spool.next_seq if self._live else spool.acked_seq
        self._reader.seek(self._next)
        if backlog:
            log.warning(
                "spool %s holds %d packets from before: draining them first", spool.path, backlog
            )
        self._thread = threading.Thread(target=self._drain_loop, name="spool-drain", daemon=True)
        self._thread.start()

    # -- publishing ------------------------------------------------------------------------

    def publish(self, records: Sequence[Record], nbytes: int) -> int:
        """Spool ``records`` (write-ahead), then send them live when nothing older waits."""
        with self._order:
            first, count = self.spool.append(records, self.interrupt)
            with self._lock:
                if self._live and not self.halted:
                    for i in range(count):
                        if not self._send(first + i, records[i], grace=True):
                            self._go_spooling(first + i, "the local queue stayed full")
                            break
        self._stats.record_sent_many(count, nbytes if count == len(records) else 0)
        return count

    def _go_spooling(self, next_seq: int, why: str) -> None:
        """Stop sending live from ``next_seq`` on (the drain thread takes over)."""
        self._live = False
        self._next = next_seq
        self._reader.seek(next_seq)
        log.warning("spooling to %s: %s", self.spool.path, why)

    def _send(self, seq: int, record: Record, *, grace: bool) -> bool:
        """Hand one record to librdkafka (its ack removes it from the spool); False when the
        queue stayed full (for ``grace`` s when live) or sending must stop."""
        key, value, timestamp_ms, headers = record
        deadline = time.monotonic() + self.spool.settings.queue_grace_s
        while True:
            try:
                self._producer.produce(
                    self._topic,
                    value,
                    key,
                    partition=self._partition_for(key),
                    timestamp=timestamp_ms,
                    headers=headers if headers is not None else self._headers,
                    on_delivery=functools.partial(self._on_ack, seq),
                )
                return True
            except BufferError:
                if self._stop.is_set() or self.outage is not None or self._rewind:
                    return False
                if grace and time.monotonic() > deadline:
                    return False
                self._producer.poll(0.01)
            except KafkaException as exc:
                self._failed(seq, key, str(exc.args[0] if exc.args else exc))
                return True

    # -- acknowledgements ------------------------------------------------------------------

    def _on_ack(self, seq: int, err: RdKafkaError | None, msg: Message) -> None:
        if err is None:
            self.spool.ack(seq)
            self.acked += 1
            return
        if self._refused(err):
            self.halted = True  # stays spooled: delivered once the ACL is granted
            return
        code = err.code()
        if code in RETRIABLE or err.retriable():
            if code not in _PURGED:  # our own purges say nothing about the broker
                self.note_outage(f"{err.name()}: {err.str()}")
            return  # stays spooled; sent again
        self._failed(seq, msg.key(), f"{err.name()}: {err.str()}")

    def _failed(self, seq: int, key: bytes | None, reason: str) -> None:
        """A record the broker will never take (too large, not authorised): counted, dropped."""
        self._stats.record_failed(reason)
        self.spool.ack(seq)
        name = reason.split(":", 1)[0]
        seen = self._failures_logged[name] = self._failures_logged.get(name, 0) + 1
        if seen <= 3:
            log.error("packet for key %r not deliverable, not retried: %s", key, reason)
        elif seen == 4:
            log.error("more packets fail with %s; counted in the stats, not logged", name)

    def note_outage(self, reason: str) -> None:
        """Delivery cannot happen now: stop live sending, resend from the oldest unacked."""
        if self._closing or self.outage is not None:
            return
        self.outage = reason
        self._rewind = True
        log.warning(
            "cannot deliver to %s (%s): spooling to %s until it answers",
            self._topic,
            reason,
            self.spool.path,
        )

    # -- the drain thread ------------------------------------------------------------------

    def _drain_loop(self) -> None:
        while not self._stop.is_set():
            if self.halted:
                self._stop.wait(0.1)
            elif self._rewind:
                self._do_rewind()
            elif self.outage is not None:
                self._wait_for_broker()
            elif self._live:
                self._stop.wait(0.05)
            elif not self._drain_some():
                self._stop.wait(0.02)

    def _do_rewind(self) -> None:
        with self._lock:
            self._live = False
            self._producer.purge(in_queue=True, in_flight=True, blocking=False)
        deadline = time.monotonic() + 10.0
        while len(self._producer) and time.monotonic() < deadline and not self._stop.is_set():
            self._stop.wait(0.05)  # the poll thread serves the purge reports
        with self._lock:
            self._rewind = False
            self._next = self.spool.acked_seq
            self._reader.seek(self._next)

    def _wait_for_broker(self) -> None:
        problem = self._probe()
        if problem is None and self.outage is not None:
            log.warning(
                "%s answers again: draining %d spooled packets from %s",
                self._topic,
                self.spool.records,
                self.spool.path,
            )
            self.outage = None
        else:
            self._stop.wait(1.0)

    def _drain_some(self) -> bool:
        """Send the next records at the drain rate; False when there was nothing to send."""
        if len(self._producer) >= DRAIN_WINDOW:
            self._producer.poll(0.01)
            return True
        rate = self.spool.settings.drain_rate
        batch = 500 if not rate else max(1, min(500, int(rate / 20)))
        started = time.monotonic()
        records = self._reader.read(batch)
        if not records:
            return self._maybe_go_live()
        for record in records:
            if self._stop.is_set() or self._rewind or self.outage is not None:
                return True
            if not self.spool.is_done(record.seq) and not self._send_drained(record):
                return True
            self._next = record.seq + 1
        if rate:
            pause = len(records) / rate - (time.monotonic() - started)
            if pause > 0:
                self._stop.wait(pause)
        return True

    def _send_drained(self, record: SpoolRecord) -> bool:
        with self._lock:
            sent = self._send(
                record.seq,
                (record.key, record.value, record.timestamp_ms, record.headers),
                grace=False,
            )
        if not sent:
            self._reader.seek(record.seq)
        return sent

    def _maybe_go_live(self) -> bool:
        with self._lock:
            if self._next >= self.spool.next_seq and not self._rewind and self.outage is None:
                self._live = True
                log.info("spool %s drained: publishing live again", self.spool.path)
        return False

    # -- status and closing ----------------------------------------------------------------

    def view(self) -> SpoolView:
        status = self.spool.status()
        now = time.monotonic()
        self._samples.append((now, self.acked, status.records))
        t0, a0, r0 = self._samples[0]
        dt = now - t0
        rate = (self.acked - a0) / dt if dt > 0 else 0.0
        shrink = (r0 - status.records) / dt if dt > 0 else 0.0
        return SpoolView(
            status=status,
            drain_rate=round(rate, 1),
            time_to_drain_s=(
                round(status.records / shrink, 1) if shrink > 0 and status.records else None
            ),
            outage=self.outage,
            live=self._live,
        )

    def stats(self) -> SpoolStats:
        """The spool as the publisher's stats show it."""
        v = self.view()
        return SpoolStats(
            path=v.status.path,
            records=v.status.records,
            bytes=v.status.bytes,
            oldest_age_s=v.status.oldest_age_s,
            drain_rate=v.drain_rate,
            time_to_drain_s=v.time_to_drain_s,
            spooling=not v.live,
            outage=v.outage,
            dropped=v.status.dropped,
            corrupt=v.status.corrupt,
        )

    def wait_acked(self, timeout: float, *, through_outage: bool = True) -> None:
        """Wait up to ``timeout`` s for the spool to be sent and acknowledged; without
        ``through_outage``, not while the broker is away (what it holds stays spooled)."""
        deadline = time.monotonic() + timeout
        while self.spool.records and time.monotonic() < deadline and not self.halted:
            if self.outage is not None and not through_outage:
                return
            time.sleep(0.05)

    def close(self, timeout: float) -> int:
        """Stop draining; purge what librdkafka still holds (it stays spooled); how many
        packets the spool keeps."""
        self.interrupt.set()
        self.wait_acked(timeout, through_outage=False)
        self._closing = True
        self._stop.set()
        self._thread.join(5.0)
        with self._lock:
            self._producer.purge(in_queue=True, in_flight=True, blocking=False)
        self._producer.flush(2.0)
        left = self.spool.records
        self.spool.close()
        return left
