"""Planning a consumer group's offset reset (as ``kafka-consumer-groups --reset-offsets``).

Pure functions over offsets already read from the cluster, so every rule is unit-tested:
``earliest`` (each partition's log start), ``latest`` (its high watermark), ``datetime`` (the
first offset timed at or after the instant; the high watermark when none is), and ``shift``
(the committed offset moved by N). Every new offset is clamped to the partition's
``[log start, high watermark]``, as Kafka's tool does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import msgspec

from ..errors import ConfigError

__all__ = ["PartitionReset", "ResetPlan", "ResetTo", "plan_reset"]

Partition = tuple[str, int]
ResetKind = Literal["earliest", "latest", "datetime", "shift"]


class ResetTo(msgspec.Struct, frozen=True):
    """Where to move the offsets: ``kind`` and, for datetime/shift, ``value`` (ms or N)."""

    kind: ResetKind
    value: int = 0

    @classmethod
    def from_options(
        cls, *, earliest: bool, latest: bool, datetime_ms: int | None, shift: int | None
    ) -> ResetTo:
        """Exactly one of the four options, or a :class:`ConfigError` naming them."""
        given: list[ResetTo] = []
        if earliest:
            given.append(cls("earliest"))
        if latest:
            given.append(cls("latest"))
        if datetime_ms is not None:
            given.append(cls("datetime", datetime_ms))
        if shift is not None:
            given.append(cls("shift", shift))
        if len(given) != 1:
            raise ConfigError(
                "groups reset: give exactly one of --to-earliest, --to-latest, "
                f"--to-datetime T, --shift N (got {len(given)})"
            )
        return given[0]


class PartitionReset(msgspec.Struct, frozen=True, kw_only=True):
    """One partition's committed offset now (None: none) and after the reset."""

    topic: str
    partition: int
    current: int | None
    new: int
    log_start: int
    high_watermark: int

    @property
    def changes(self) -> bool:
        return self.current != self.new


class ResetPlan(msgspec.Struct, frozen=True, kw_only=True):
    """The new offset of each partition, and the partitions left as they are (why)."""

    group: str
    to: ResetTo
    partitions: list[PartitionReset]
    skipped: list[str] = msgspec.field(default_factory=list)

    @property
    def offsets(self) -> dict[Partition, int]:
        return {(p.topic, p.partition): p.new for p in self.partitions}


def _target(
    to: ResetTo, current: int | None, low: int, high: int, at_time: int | None
) -> int | None:
    if to.kind == "earliest":
        return low
    if to.kind == "latest":
        return high
    if to.kind == "datetime":
        return high if at_time is None or at_time < 0 else at_time
    return None if current is None else current + to.value


def plan_reset(
    group: str,
    to: ResetTo,
    committed: Mapping[Partition, int | None],
    log_start: Mapping[Partition, int],
    high_watermark: Mapping[Partition, int],
    at_time: Mapping[Partition, int] | None = None,
) -> ResetPlan:
    """The reset of ``committed``'s partitions (None: no committed offset) to ``to``.

    ``at_time`` holds, for ``datetime``, the broker's answer to ListOffsets by timestamp
    (-1: no record that late). ``shift`` skips partitions without a committed offset.
    """
    out: list[PartitionReset] = []
    skipped: list[str] = []
    for tp in sorted(committed):
        low, high = log_start[tp], high_watermark[tp]
        current = committed[tp]
        wanted = _target(to, current, low, high, (at_time or {}).get(tp))
        if wanted is None:
            skipped.append(f"{tp[0]}[{tp[1]}]: no committed offset to shift")
            continue
        out.append(
            PartitionReset(
                topic=tp[0],
                partition=tp[1],
                current=current,
                new=min(max(wanted, low), high),
                log_start=low,
                high_watermark=high,
            )
        )
    return ResetPlan(group=group, to=to, partitions=out, skipped=skipped)
