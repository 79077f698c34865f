"""Parsing of human durations (``30s``, ``14d``) and sizes (``100GB``)."""

from __future__ import annotations

import re

from .errors import ConfigError

__all__ = ["format_age_ms", "format_bytes", "format_duration_ms", "parse_duration", "parse_size"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "ki": 2**10,
    "mi": 2**20,
    "gi": 2**30,
    "ti": 2**40,
}


def parse_duration(text: str, *, what: str = "duration", default_unit: str = "s") -> float:
    """Seconds in ``text``: ``500ms``, ``30s``, ``5m``, ``2h``, ``14d``, ``1w`` or a bare number."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"{what}: {text!r} is not a duration such as 30s, 5m, 2h or 14d")
    value = float(match.group(1)) * _DURATION_UNITS[(match.group(2) or default_unit).lower()]
    if value <= 0:
        raise ConfigError(f"{what}: {text!r} must be greater than zero")
    return value


def parse_size(text: str, *, what: str = "size") -> int:
    """Bytes in ``text``: ``512``, ``64KiB``, ``100GB``, ``1TiB``."""
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(f"{what}: {text!r} is not a size such as 64MiB or 100GB")
    unit = (match.group(2) or "").lower().rstrip("b")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def format_duration_ms(ms: int | float) -> str:
    """``604800000`` -> ``7d``; ``90000`` -> ``90s``."""
    ms = int(ms)
    if ms < 0:
        return "infinite"
    for unit, factor in (
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ):
        if ms >= factor and ms % factor == 0:
            return f"{ms // factor}{unit}"
    return f"{ms}ms"


def format_age_ms(ms: int | float) -> str:
    """A rough span for people: ``259205000`` -> ``3.0 days``, ``5400000`` -> ``1.5 hours``."""
    seconds = max(0.0, float(ms) / 1000)
    for unit, size in (("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def format_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KiB``; binary units up to TiB."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
