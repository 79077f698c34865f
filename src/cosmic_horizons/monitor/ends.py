"""The embedded broker's high watermarks made exact.

The embedded broker (Tansu) reports a partition's high watermark as the base offset of its last
record batch plus one: short by the batch's size minus one after a multi-record batch. On that
broker only, the monitor reads the last batch once per new watermark (a consumer assigned at the
reported watermark - 1 receives the whole batch) and reports its last record's offset + 1.
"""

from __future__ import annotations

import contextlib
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

from ..clients import consumer_config
from ..config import KafkaSettings

__all__ = ["EndReader"]

_TP = tuple[str, int]


class EndReader:
    """One consumer, made on first use, that reads the true ends of the embedded broker's
    partitions; a reported watermark seen before is answered from memory."""

    def __init__(self, settings: KafkaSettings, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout
        self._consumer: Consumer | None = None
        self._true_ends: dict[_TP, tuple[int, int]] = {}  # reported watermark -> true end

    def correct(self, reported: dict[_TP, int]) -> dict[_TP, int]:
        """The embedded broker's reported watermarks made exact: each is the base offset of the
        last batch + 1, so the batch read from ``reported - 1`` ends at the true end. A
        watermark seen before reuses its answer (a new batch always moves the reported one)."""
        out = dict(reported)
        todo: dict[_TP, int] = {}
        for tp, hw in reported.items():
            known = self._true_ends.get(tp)
            if known is not None and known[0] == hw:
                out[tp] = known[1]
            elif hw > 0:
                todo[tp] = hw
        if not todo:
            return out
        try:
            last = self._read_last_offsets(todo)
        except KafkaException:
            return out  # the reported figure, as Kafka would give it; corrected next time
        for tp, hw in todo.items():
            if tp in last:
                end = max(hw, last[tp] + 1)
                out[tp] = end
                self._true_ends[tp] = (hw, end)
        return out

    def _read_last_offsets(self, starts: dict[_TP, int]) -> dict[_TP, int]:
        """The last offset delivered from each partition, reading from ``reported - 1``."""
        if self._consumer is None:
            self._consumer = Consumer(
                consumer_config(
                    self.settings,
                    "monitor-end",
                    group="cosmic-horizons-monitor-end",
                    socket_timeout_ms=int(self.timeout * 1000),
                )
            )
        reader = self._consumer
        reader.assign([TopicPartition(t, p, hw - 1) for (t, p), hw in starts.items()])
        last: dict[_TP, int] = {}
        pending = set(starts)
        deadline = time.monotonic() + min(self.timeout, 3.0)
        try:
            while pending and time.monotonic() < deadline:
                for msg in reader.consume(num_messages=10_000, timeout=0.01):
                    key = (msg.topic() or "", msg.partition() or 0)
                    err = msg.error()
                    if err is not None:
                        pending.discard(key)  # end of partition, or nothing readable there
                        continue
                    last[key] = max(last.get(key, -1), msg.offset() or 0)
        finally:
            reader.unassign()
        return last

    def close(self) -> None:
        """Close the consumer (if one was made); a later read makes a new one."""
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            with contextlib.suppress(KafkaException, RuntimeError):
                consumer.close()
