"""Store and forward: the publisher's side of the spool.

Write-ahead: every accepted packet is appended to the spool before ``publish`` returns, then
handed to librdkafka at once while the spool holds nothing older ("live"). A packet leaves
the spool only on its delivery acknowledgement. When delivery cannot happen (every broker
down, a retriable delivery failure, a stall, the local queue full past a short grace) the
publisher stops handing packets to librdkafka and a drain thread takes over: it sends what
the spool holds, oldest first, at a bounded rate, and publishing goes live again once it
has caught up. So the order: while the spool holds anything not yet sent, everything new is
spooled behind it (not per element: one queue keeps every element's order with no index).
Records are handed over and acknowledged in blocks (:mod:`.blocks`): one callback object per
publish call or drained batch, not one per record. Only the publisher's poll thread serves
delivery reports; the threads here wait for it rather than poll themselves.
"""

from __future__ import annotations

import itertools
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
from ..spool.records import Drained, Headers
from ..stats import PublisherStats, SpoolStats
from .blocks import Block

__all__ = ["DRAIN_BATCH", "DRAIN_WINDOW", "Forwarder", "SpoolView"]

log = logging.getLogger(__name__)

#: Records the drain keeps in librdkafka's queue at most (what a crash may duplicate).
DRAIN_WINDOW: Final = 20_000
#: Records the drain reads and hands over as one block (fewer under a low --drain-rate).
DRAIN_BATCH: Final = 2_000
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
        legacy: bool,
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
        self._legacy = legacy
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
                if self._live and count and not self.halted:
                    items = records if count == len(records) else records[:count]
                    block = Block(self, first, first + count, items, drained=False)
                    sent = self._hand(block, items, grace=True)
                    if sent < count:
                        block.not_sent(range(first + sent, first + count))
                        self._go_spooling(first + sent, "the local queue stayed full")
        self._stats.record_sent_many(count, nbytes if count == len(records) else 0)
        return count

    def _go_spooling(self, next_seq: int, why: str) -> None:
        """Stop sending live from ``next_seq`` on (the drain thread takes over)."""
        self._live = False
        self._next = next_seq
        self._reader.seek(next_seq)
        log.warning("spooling to %s: %s", self.spool.path, why)

    def _hand(self, block: Block, items: Sequence[Record], *, grace: bool) -> int:
        """Hand ``items`` (the block's records in order) to librdkafka; how many were (the
        rest: the queue stayed full, for ``grace`` s when live, or sending must stop)."""
        produce, topic, default = self._producer.produce, self._topic, self._headers
        callback, place = block.report, self._partition_for
        legacy = self._legacy
        deadline = time.monotonic() + self.spool.settings.queue_grace_s
        i, n = 0, len(items)
        while i < n:
            try:
                for key, value, ts, headers in itertools.islice(items, i, None):
                    produce(
                        topic,
                        value,
                        key,
                        partition=place(key) if legacy else -1,
                        timestamp=ts,
                        headers=default if headers is None else headers,
                        on_delivery=callback,
                    )
                    i += 1
            except BufferError:
                if self._stop.is_set() or self.outage is not None or self._rewind:
                    return i
                if grace and time.monotonic() > deadline:
                    return i
                time.sleep(0.002)  # the poll thread serves the reports that make room
            except KafkaException as exc:
                self._failed(items[i][0], str(exc.args[0] if exc.args else exc))
                block.skip()
                i += 1
        return i

    # -- acknowledgements ------------------------------------------------------------------

    def block_done(self, block: Block) -> None:
        """Every record of ``block`` reported: acknowledge it in the spool (less its retries)."""
        delivered = block.expected - len(block.retry)
        for start, end in block.acked_runs():
            self.spool.ack_range(start, end, delivered)
            delivered = 0

    def block_error(self, block: Block, err: RdKafkaError, msg: Message) -> None:
        seq = block.seq_of(msg)
        if self._refused(err):
            self.halted = True  # stays spooled: delivered once the ACL is granted
            block.retry.update(block.seqs() if seq is None else (seq,))
            return
        code = err.code()
        if code in RETRIABLE or err.retriable():
            if code not in _PURGED:  # our own purges say nothing about the broker
                self.note_outage(f"{err.name()}: {err.str()}")
            if seq is None:  # cannot tell which: send them all again (duplicates, no loss)
                block.retry.update(block.seqs())
            else:
                block.retry.add(seq)
            return  # stays spooled; sent again
        self._failed(msg.key(), f"{err.name()}: {err.str()}")

    def _failed(self, key: bytes | None, reason: str) -> None:
        """A record the broker will never take (too large, not authorised): counted, and
        acknowledged with its block (never retried)."""
        self._stats.record_failed(reason)
        name = reason.split(":", 1)[0]
        seen = self._failures_logged[name] = self._failures_logged.get(name, 0) + 1
        if seen <= 3:
            log.error("packet for key %r not deliverable, not retried: %s", key, reason)
        elif seen == 4:
            log.error("more packets fail with %s; counted in the stats, not logged", name)

    @property
    def acked(self) -> int:
        """Records the broker acknowledged (progress, for the stall watch)."""
        return self.spool.acked_total

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
                self.spool.tick()
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
        """Send the next block at the drain rate; False when there was nothing to send."""
        if len(self._producer) >= DRAIN_WINDOW:
            self._stop.wait(0.002)  # the poll thread serves the reports that make room
            return True
        rate = self.spool.settings.drain_rate
        batch = DRAIN_BATCH if not rate else max(1, min(DRAIN_BATCH, int(rate / 20)))
        started = time.monotonic()
        start = self._reader.position
        records = self._reader.read(batch)
        if not records:
            return self._maybe_go_live()
        self._send_drained(start, records)
        if rate:
            pause = len(records) / rate - (time.monotonic() - started)
            if pause > 0:
                self._stop.wait(pause)
        return True

    def _send_drained(self, start: int, records: list[Drained]) -> None:
        """One block: ``records`` read from ``start`` on; seqs between them that the reader
        skipped (damaged, or gone) are acknowledged with it, never sent."""
        end = records[-1][0] + 1
        todo = self.spool.not_done(records)
        with self._lock:
            if self._stop.is_set() or self._rewind or self.outage is not None:
                self._reader.seek(start)
                return
            if not todo:
                self.spool.ack_range(start, end, 0)
                self._next = end
                return
            block = Block(self, start, end, todo, drained=True)
            sent = self._hand(block, [(k, v, ts, h) for _, ts, k, v, h in todo], grace=False)
            if sent < len(todo):
                block.not_sent(r[0] for r in todo[sent:])
                end = todo[sent][0]
                self._reader.seek(end)
            self._next = end

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
        deadline = time.monotonic() + 2.0
        while len(self._producer) and time.monotonic() < deadline:
            time.sleep(0.01)  # the poll thread serves the purge reports
        left = self.spool.records
        self.spool.close()
        return left
