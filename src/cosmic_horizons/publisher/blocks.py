"""Acknowledging spooled records a block at a time: one delivery callback per block.

A block is the records of one ``publish`` call, or one batch the drain sends: a seq range
``[first, end)``. Every record of it handed to librdkafka carries the block's one bound
method as its delivery callback, which does almost nothing per record (an error check and
a counter); when the last record is reported, the range is acknowledged in the spool at
once, less the seqs to send again (a retriable failure, or not handed over at all).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Protocol

from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import Message

__all__ = ["Block", "BlockSink"]


class BlockSink(Protocol):
    def block_error(self, block: Block, err: RdKafkaError, msg: Message) -> None: ...
    def block_done(self, block: Block) -> None: ...


class Block:
    """The records of ``[first, end)`` handed over together (``records``: live
    ``(key, value, ts, headers)`` with seqs from ``first``, or drained tuples with their seq
    first); ``expected``: how many reports (or :meth:`skip`) complete it."""

    __slots__ = (
        "_count",
        "_index",
        "drained",
        "end",
        "expected",
        "first",
        "records",
        "retry",
        "sink",
    )

    def __init__(
        self,
        sink: BlockSink,
        first: int,
        end: int,
        records: Sequence[tuple[object, ...]],
        *,
        drained: bool,
    ) -> None:
        self.sink = sink
        self.first, self.end = first, end
        self.records = records
        self.drained = drained
        self.expected = len(records)
        self.retry: set[int] = set()
        """Seqs to send again (not acknowledged when the block completes)."""
        self._count = itertools.count(1).__next__  # atomic: reports come from any thread
        self._index: dict[tuple[object, ...], list[int]] | None = None

    def report(self, err: RdKafkaError | None, msg: Message) -> None:
        """librdkafka's delivery callback for each record of the block."""
        if err is not None:
            self.sink.block_error(self, err, msg)
        if self._count() == self.expected:
            self.sink.block_done(self)

    def not_sent(self, seqs: Iterable[int]) -> None:
        """These records were not handed over: they stay spooled, to be sent again."""
        for seq in seqs:
            self.retry.add(seq)
            if self._count() == self.expected:
                self.sink.block_done(self)

    def skip(self) -> None:
        """One record needs no report (failed when produced: counted, never retried)."""
        if self._count() == self.expected:
            self.sink.block_done(self)

    def seqs(self) -> list[int]:
        if self.drained:
            return [int(r[0]) for r in self.records]  # type: ignore[call-overload]
        return list(range(self.first, self.first + len(self.records)))

    def seq_of(self, msg: Message) -> int | None:
        """The seq of a reported record (the error path only): found by key and value (a
        packet holds its own timestamp); of identical records, one not yet claimed."""
        if self._index is None:
            index: dict[tuple[object, ...], list[int]] = {}
            for seq, r in zip(self.seqs(), self.records, strict=True):
                k = (r[2], r[3]) if self.drained else (r[0], r[1])
                index.setdefault(k, []).append(seq)
            self._index = index
        found = self._index.get((msg.key(), msg.value()))
        return found.pop(0) if found else None

    def acked_runs(self) -> list[tuple[int, int]]:
        """``[start, end)`` runs of the block to acknowledge: all of it but :attr:`retry`."""
        if not self.retry:
            return [(self.first, self.end)]
        runs: list[tuple[int, int]] = []
        start = self.first
        for seq in sorted(self.retry):
            if seq > start:
                runs.append((start, seq))
            start = max(start, seq + 1)
        if start < self.end:
            runs.append((start, self.end))
        return runs
