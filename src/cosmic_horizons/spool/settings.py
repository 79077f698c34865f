"""What a spool is told (:class:`SpoolSettings`) and what it tells (:class:`SpoolStatus`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import msgspec

from ..errors import ConfigError

__all__ = ["DEFAULT_MAX_BYTES", "SpoolPolicy", "SpoolSettings", "SpoolStatus"]

SpoolPolicy = Literal["block", "drop-oldest"]
DEFAULT_MAX_BYTES: Final = 10 * 1024**3


@dataclass(frozen=True, kw_only=True)
class SpoolSettings:
    """Where and how a publisher spools what it cannot deliver."""

    path: Path
    max_bytes: int = DEFAULT_MAX_BYTES
    """Bound on the segment files' total size (``--spool-max``)."""
    policy: SpoolPolicy = "block"
    """When full: ``block`` the caller until acks free room, or ``drop-oldest`` (counted)."""
    fsync_every: int = 1000
    """fsync after this many records (0: never on count)..."""
    fsync_interval_s: float = 1.0
    """...or when this long has passed since the last fsync (0: never on time)."""
    drain_rate: float = 20_000.0
    """Records per second sent from the spool while recovering (0: no limit)."""
    queue_grace_s: float = 1.0
    """How long publish() waits on a full librdkafka queue before spooling instead."""
    segment_bytes: int = 0
    """Size at which a segment is closed and a new one begun (0: max_bytes/8, 1..64 MiB)."""

    def __post_init__(self) -> None:
        if self.max_bytes < 1024 * 1024:
            raise ConfigError(f"--spool-max must be at least 1MiB, got {self.max_bytes} bytes")
        if self.policy not in ("block", "drop-oldest"):
            raise ConfigError(f"--spool-policy must be block or drop-oldest, got {self.policy!r}")
        if self.drain_rate < 0 or self.fsync_every < 0 or self.fsync_interval_s < 0:
            raise ConfigError("--drain-rate and the fsync settings must not be negative")

    @property
    def segment_limit(self) -> int:
        if self.segment_bytes:
            return self.segment_bytes
        return max(1024 * 1024, min(64 * 1024 * 1024, self.max_bytes // 8))


class SpoolStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What is in a spool now."""

    path: str
    records: int
    """Records not yet acknowledged."""
    bytes: int
    segments: int
    oldest_age_s: float | None
    """Age of the oldest segment still held (to one segment's precision)."""
    next_seq: int
    acked_seq: int
    """Every record below this seq is acknowledged."""
    dropped: int
    """Records dropped unsent by the drop-oldest policy (this process)."""
    corrupt: int
    """Damaged stretches detected and skipped (this process)."""
    max_bytes: int
    policy: str
