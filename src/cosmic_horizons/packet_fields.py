"""The packet's text fields: RFC 3339 timestamps (parsed, cached as epoch milliseconds) and
base64 chunks (checked, decoded, encoded); :mod:`cosmic_horizons.packet` re-exports the public
names."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

from .errors import PacketError

__all__ = ["TIMESTAMP_FORM", "chunk_bytes", "timestamp_ok"]

#: The accepted timestamp form: RFC 3339's date-time, which is ISO 8601's extended format
#: with seconds and an offset, in ASCII digits; the calendar is checked after it.
TIMESTAMP_FORM: Final = "YYYY-MM-DDTHH:MM:SS[.fraction] then Z or ±HH:MM"
_URLSAFE_TO_STD: Final = bytes.maketrans(b"-_", b"+/")


def _brief(value: object) -> str:
    """``repr`` of a bad value, cut so that an error message stays one short line."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"


# Validated timestamps and their epoch milliseconds. Packets of one array tick share their
# timestamp, so most packets find theirs here; the cache is emptied when it grows too large.
_timestamp_ms_cache: dict[str, int] = {}
_TIMESTAMP_CACHE_MAX: Final = 4096


def _timestamp_ms(value: str) -> int:
    ms = (_parse_timestamp(value) - _EPOCH) // _ONE_MS
    if len(_timestamp_ms_cache) >= _TIMESTAMP_CACHE_MAX:
        _timestamp_ms_cache.clear()
    _timestamp_ms_cache[value] = ms
    return ms


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
_TIMESTAMP_RE: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:(Z)|([+-])([0-9]{2}):([0-9]{2}))"
)
#: The same date and time without a zone, to say precisely what is missing.
_NO_ZONE_RE: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
)


def _parse_timestamp(value: str) -> datetime:
    """RFC 3339 date-time (``2026-11-27T12:00:00.123Z``, ``...+05:30``) as an aware datetime.

    Only that form: no space or other separator, no week or ordinal dates, no basic format,
    no comma fraction, no offset without minutes or with seconds. Digits past microseconds
    are read but not kept (the packet's record timestamp is in milliseconds).
    """
    if value.__class__ is not str:
        raise PacketError(
            "$.timestamp",
            f"expected an ISO 8601 string ({TIMESTAMP_FORM}), got {type(value).__name__}",
        )
    match = _TIMESTAMP_RE.fullmatch(value)
    if match is None:
        if _NO_ZONE_RE.fullmatch(value):
            raise PacketError(
                "$.timestamp",
                f"has no timezone (add Z or an offset such as +00:00): {_brief(value)}",
            )
        raise PacketError(
            "$.timestamp",
            f"not an ISO 8601 date-time: {_brief(value)} (expected {TIMESTAMP_FORM}, "
            "e.g. 2026-11-27T12:00:00.123Z)",
        )
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    try:
        if zulu:
            zone = UTC
        else:
            if int(off_h) > 23 or int(off_m) > 59:
                raise ValueError("offset out of range")
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            zone = timezone(-offset if sign == "-" else offset)
        micros = int((fraction or "")[:6].ljust(6, "0"))
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, zone
        )
    except ValueError:
        raise PacketError("$.timestamp", f"no such date, time or offset: {_brief(value)}") from None


def timestamp_ok(value: str) -> bool:
    """Would a packet accept ``value`` as its timestamp?"""
    try:
        _parse_timestamp(value)
    except PacketError:
        return False
    return True


_B64_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _check_base64(value: str) -> None:
    """Validate without decoding: a C-speed alphabet scan for the usual padded standard form."""
    if value.isascii():
        raw = value.encode("ascii")
        body = raw.rstrip(b"=")
        if (
            len(raw) % 4 == 0
            and len(raw) - len(body) <= 2
            and not body.translate(None, _B64_ALPHABET)
        ):
            return
    _decode_base64(value)  # URL-safe or unpadded forms, and the precise error


def _decode_base64(value: str) -> bytes:
    """Standard base64 (RFC 4648 section 4); URL-safe alphabet and missing padding also accepted."""
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):
        pass
    try:
        padded = value.encode("ascii").translate(_URLSAFE_TO_STD)
        raw = padded.rstrip(b"=")
        if len(raw) % 4 == 1 or len(padded) - len(raw) > 2:
            raise ValueError("impossible length or padding")
        return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4), strict_mode=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise PacketError("$.data_chunk", "not valid base64") from None


def chunk_bytes(data: bytes) -> str:
    """Encode visibility bytes for ``data_chunk``."""
    return base64.b64encode(data).decode("ascii")
