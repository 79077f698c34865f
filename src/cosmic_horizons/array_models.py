"""What the array view hands out: one element, one site, the rate, the whole snapshot.

:class:`ElementState` and :class:`SiteSummary` take their fields by position as well as by name
and are not tracked by the garbage collector: a snapshot of 26,300 elements builds 26,300 of
them every second, and keyword construction and GC passes were most of that cost.
"""

from __future__ import annotations

import msgspec

from .array_health import ElementHealth, HealthThresholds

__all__ = ["ArraySnapshot", "ElementState", "RatePoint", "SiteSummary"]


class ElementState(msgspec.Struct, frozen=True, gc=False):
    """The latest packet of one element, and how it looks."""

    element_id: str = msgspec.field(name="elementId")
    site_id: str = msgspec.field(name="siteId")
    source_id: str = msgspec.field(name="sourceId")
    target_id: str = msgspec.field(name="targetId")
    route_type: str = msgspec.field(name="routeType")
    timestamp: str
    """The packet's own timestamp (ISO 8601)."""
    vibration: float
    power_usage: float = msgspec.field(name="powerUsage")
    noise_floor: float = msgspec.field(name="noiseFloor")
    rfi_level: float = msgspec.field(name="rfiLevel")
    has_chunk: bool = msgspec.field(name="hasChunk")
    packets: int
    """Packets seen from this element since the view started."""
    last_seen: float = msgspec.field(name="lastSeen")
    """Unix time the last packet was read."""
    age_s: float = msgspec.field(name="ageS")
    partition: int
    offset: int
    health: ElementHealth
    reasons: tuple[str, ...]
    """Why the element is not ok (empty when it is)."""


class SiteSummary(msgspec.Struct, frozen=True, gc=False):
    """Aggregates over the elements of one site."""

    site_id: str = msgspec.field(name="siteId")
    elements: int
    ok: int
    warn: int
    alarm: int
    stale: int
    mean_rfi: float | None = msgspec.field(name="meanRfi")
    max_rfi: float | None = msgspec.field(name="maxRfi")
    mean_noise_floor: float | None = msgspec.field(name="meanNoiseFloor")
    last_seen: float | None = msgspec.field(name="lastSeen")
    health: ElementHealth
    """The site's worst element among those not stale; ``stale`` when all are."""


class RatePoint(msgspec.Struct, frozen=True):
    """Records read during one second."""

    t: int
    """Unix time (whole seconds)."""
    count: int


class ArraySnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the array view knows at one instant."""

    topic: str
    running: bool
    from_beginning: bool = msgspec.field(name="fromBeginning")
    started_at: float = msgspec.field(name="startedAt")
    generated_at: float = msgspec.field(name="generatedAt")
    records: int
    """Records read since start (good and bad)."""
    undecodable: int
    """Records that were not valid packets (counted, skipped)."""
    element_limit: int = msgspec.field(name="elementLimit")
    """Most elements the view tracks; packets from further element ids are counted in
    ``untracked``, never shown."""
    untracked: int
    """Valid packets from element ids beyond ``elementLimit`` (counted, not shown)."""
    last_decode_error: str | None = msgspec.field(name="lastDecodeError")
    consumer_error: str | None = msgspec.field(name="consumerError")
    rate: float
    """Records per second over the last 10 s."""
    rate_history: list[RatePoint] = msgspec.field(name="rateHistory")
    thresholds: HealthThresholds
    sites: list[SiteSummary]
    elements: list[ElementState]
