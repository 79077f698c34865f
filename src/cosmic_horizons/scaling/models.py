"""The cluster's replica layout and reassignment plans, as values."""

from __future__ import annotations

import msgspec

__all__ = [
    "Broker",
    "Layout",
    "Move",
    "PartitionLayout",
    "Plan",
]


class Broker(msgspec.Struct, frozen=True):
    """A broker of the cluster and its rack (None when the broker has none)."""

    id: int
    rack: str | None = None


class PartitionLayout(msgspec.Struct, frozen=True, kw_only=True):
    """One partition now: its replicas (the first is the preferred leader), leader and size.

    ``size`` is the partition's bytes on its largest replica (DescribeLogDirs); 0 unknown.
    """

    topic: str
    partition: int
    replicas: tuple[int, ...]
    leader: int | None = None
    isr: tuple[int, ...] = ()
    size: int = 0


class Layout(msgspec.Struct, frozen=True, kw_only=True):
    """The brokers and the partitions a plan starts from."""

    brokers: tuple[Broker, ...]
    partitions: tuple[PartitionLayout, ...]

    def rack_of(self) -> dict[int, str | None]:
        return {b.id: b.rack for b in self.brokers}


class Move(msgspec.Struct, frozen=True, kw_only=True):
    """One partition's new replica list; ``moved_bytes`` is what the new replicas copy."""

    topic: str
    partition: int
    before: tuple[int, ...]
    after: tuple[int, ...]
    size: int = 0

    @property
    def adding(self) -> tuple[int, ...]:
        return tuple(b for b in self.after if b not in self.before)

    @property
    def removing(self) -> tuple[int, ...]:
        return tuple(b for b in self.before if b not in self.after)

    @property
    def moved_bytes(self) -> int:
        return self.size * len(self.adding)


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """A reassignment: the partitions whose replica list changes, over ``brokers``."""

    brokers: tuple[int, ...]
    moves: tuple[Move, ...]

    @property
    def moved_bytes(self) -> int:
        return sum(m.moved_bytes for m in self.moves)

    @property
    def replicas_moved(self) -> int:
        return sum(len(m.adding) for m in self.moves)
