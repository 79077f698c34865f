"""Building an array snapshot: elements in display order, per-site aggregates, the rate.

The view keeps its elements sorted by :func:`sort_key` (computed once per element id, again only
when an element moves to another site), so a snapshot walks them in order once: it classifies
each element, builds its :class:`ElementState` by position and folds it into its site, whose
elements come one after another.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from .array_health import HEALTH_ORDER, ElementHealth, HealthThresholds, judge_live
from .array_models import ElementState, RatePoint, SiteSummary
from .packet import KafkaPayload

__all__ = [
    "RATE_HISTORY_S",
    "Row",
    "SortKey",
    "build_elements",
    "history",
    "natural_key",
    "recent_rate",
    "sort_key",
    "summarize_sites",
]

#: Seconds of per-second message counts kept for the rate chart.
RATE_HISTORY_S: Final = 300

NaturalKey = tuple[tuple[int, int | str], ...]
#: (site's natural key, site id, element's natural key, element id): unique per element.
SortKey = tuple[NaturalKey, str, NaturalKey, str]
#: What a snapshot needs of one element: its packet, packets seen, last seen, partition, offset.
Row = tuple[KafkaPayload, int, float, int, int, bool]

_DIGITS: Final = re.compile(r"(\d+)")


def natural_key(text: str) -> NaturalKey:
    """Sort ``element-1-10`` after ``element-1-9``."""
    return tuple(
        (0, int(chunk)) if chunk.isdigit() else (1, chunk) for chunk in _DIGITS.split(text) if chunk
    )


def sort_key(site_id: str, element_id: str) -> SortKey:
    """Where an element shows: by site, then by element, both in natural order."""
    return (natural_key(site_id), site_id, natural_key(element_id), element_id)


def build_elements(
    rows: Iterable[Row], now: float, limits: HealthThresholds
) -> tuple[list[ElementState], list[SiteSummary]]:
    """Elements (in the rows' order, which must group them by site) and their sites' aggregates.

    One pass: each element is judged, built by position and folded into its site's tally.
    """
    elements: list[ElementState] = []
    append = elements.append
    sites: list[SiteSummary] = []
    stale_after = limits.stale_after_s
    tally = _Tally("")
    for p, packets, last_seen, partition, offset, has_chunk in rows:
        m = p.metrics
        if p.site_id != tally.site_id:
            if tally.elements:
                sites.append(tally.summary())
            tally = _Tally(p.site_id)
        age = now - last_seen
        if age < 0.0:
            age = 0.0
        if age > stale_after:
            health: ElementHealth = "stale"
            reasons: tuple[str, ...] = (
                f"no packet for {age:.0f} s (stale after {stale_after:g} s)",
            )
        else:
            health, reasons = judge_live(m.rfi_level, m.noise_floor, limits)
        tally.add(health, m.rfi_level, m.noise_floor, last_seen)
        append(
            ElementState(
                p.element_id,
                p.site_id,
                p.source_id,
                p.target_id,
                p.route_type,
                p.timestamp,
                m.vibration,
                m.power_usage,
                m.noise_floor,
                m.rfi_level,
                has_chunk,
                packets,
                last_seen,
                round(age, 3),
                partition,
                offset,
                health,
                reasons,
            )
        )
    if tally.elements:
        sites.append(tally.summary())
    return elements, sites


class _Tally:
    """The running aggregates of one site's elements."""

    __slots__ = (
        "counts",
        "elements",
        "last_seen",
        "live",
        "noise_sum",
        "rfi_max",
        "rfi_sum",
        "site_id",
    )

    def __init__(self, site_id: str) -> None:
        self.site_id = site_id
        self.counts = dict.fromkeys(HEALTH_ORDER, 0)
        self.elements = self.live = 0
        self.rfi_sum = self.noise_sum = 0.0
        self.rfi_max: float | None = None
        self.last_seen: float | None = None

    def add(self, health: ElementHealth, rfi: float, noise: float, last_seen: float) -> None:
        self.elements += 1
        self.counts[health] += 1
        if self.last_seen is None or last_seen > self.last_seen:
            self.last_seen = last_seen
        if health == "stale":
            return
        self.live += 1
        self.rfi_sum += rfi
        self.noise_sum += noise
        if self.rfi_max is None or rfi > self.rfi_max:
            self.rfi_max = rfi

    def summary(self) -> SiteSummary:
        counts, live = self.counts, self.live
        health: ElementHealth
        if not live:
            health = "stale"
        elif counts["alarm"]:
            health = "alarm"
        elif counts["warn"]:
            health = "warn"
        else:
            health = "ok"
        return SiteSummary(
            self.site_id,
            self.elements,
            counts["ok"],
            counts["warn"],
            counts["alarm"],
            counts["stale"],
            round(self.rfi_sum / live, 2) if live else None,
            self.rfi_max,
            round(self.noise_sum / live, 2) if live else None,
            self.last_seen,
            health,
        )


def summarize_sites(elements: list[ElementState]) -> list[SiteSummary]:
    """Per-site aggregates in natural site order; RFI and noise statistics leave stale out."""
    tallies: dict[str, _Tally] = {}
    for e in elements:
        tally = tallies.get(e.site_id)
        if tally is None:
            tally = tallies[e.site_id] = _Tally(e.site_id)
        tally.add(e.health, e.rfi_level, e.noise_floor, e.last_seen)
    return [tallies[site_id].summary() for site_id in sorted(tallies, key=natural_key)]


def recent_rate(counts: list[tuple[int, int]], now: float, window: int = 10) -> float:
    """Records per second over the last ``window`` whole seconds (the current one excluded)."""
    current = int(now)
    total = sum(c for s, c in counts if current - window <= s < current)
    return round(total / window, 2)


def history(counts: list[tuple[int, int]], now: int) -> list[RatePoint]:
    """One point per second for the last :data:`RATE_HISTORY_S` s, zeros filled in."""
    by_second = dict(counts)
    start = now - RATE_HISTORY_S + 1
    return [RatePoint(s, by_second.get(s, 0)) for s in range(start, now + 1)]
