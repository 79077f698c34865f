"""What the previous ``horizons doctor`` run saw (bytes on disk, dead letters), kept in a
small JSON file so that the next run can say what grew since."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import msgspec

__all__ = ["LastCheck", "default_state_path", "read_last", "write_last"]


class LastCheck(msgspec.Struct, frozen=True, kw_only=True):
    """One run's figures: when (ms), bytes on disk (None: unknown), dead letters (None)."""

    at_ms: int
    usage_bytes: int | None = None
    dlq_records: int | None = None


def default_state_path(bootstrap: str, topic: str) -> Path:
    """``$XDG_STATE_HOME/cosmic-horizons/doctor/<bootstrap>-<topic>.json`` (~/.local/state)."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{bootstrap}-{topic}")[:150]
    return base / "cosmic-horizons" / "doctor" / f"{name}.json"


def read_last(path: Path) -> LastCheck | None:
    """The previous run's figures, or None (no file, or one that does not parse)."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=LastCheck)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def write_last(path: Path, last: LastCheck) -> None:
    """Keep this run's figures for the next (a failure to write is not the doctor's problem)."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(msgspec.json.encode(last))
        tmp.replace(path)
