"""The live one-line progress view of a publisher (used by ``simulate`` and ``up``)."""

from __future__ import annotations

import time

from rich.text import Text

from .._units import format_bytes
from ..stats import StatsSnapshot

__all__ = ["publisher_line"]


def publisher_line(
    snap: StatsSnapshot, *, target_rate: float | None = None, started: float
) -> Text:
    """``sent 1200  delivered 1195  failed 0  in flight 5  2630/s (target 2630/s)  1.2 MiB``."""
    text = Text()
    text.append(f"sent {snap.sent:,}  ")
    text.append(f"delivered {snap.delivered:,}  ", style="green")
    text.append(f"failed {snap.failed:,}  ", style="bold red" if snap.failed else "dim")
    text.append(f"in flight {snap.in_flight:,}  ")
    text.append(f"{snap.rate:,.0f}/s", style="bold")
    if target_rate is not None:
        text.append(f" (target {target_rate:,.0f}/s)", style="dim")
    text.append(f"  {format_bytes(snap.bytes)}  {time.monotonic() - started:,.0f} s")
    if snap.last_error:
        text.append(f"  last error: {snap.last_error}", style="yellow")
    return text
