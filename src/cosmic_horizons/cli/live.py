"""Progress of long-running commands: the live one-line view of a publisher (``simulate``
and ``up``), and the periodic status line printed instead when the output is not a terminal
(a log: ``kubectl logs``, journald, a file)."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from .._units import format_bytes, parse_duration
from ..publisher import DeliveryReport
from ..stats import StatsSnapshot

__all__ = [
    "DEFAULT_STATUS_INTERVAL",
    "StatusIntervalOpt",
    "parse_status_interval",
    "periodic_status",
    "publisher_line",
    "report_delivery",
]

DEFAULT_STATUS_INTERVAL = "30s"

StatusIntervalOpt = Annotated[
    str,
    typer.Option(
        "--status-interval",
        help="When the output is not a terminal (a log), print a status line this often "
        "(10s, 1m; 0: never).",
    ),
]

_ZERO = re.compile(r"\s*0+(\.0*)?\s*(ms|s|m|h|d|w)?\s*", re.IGNORECASE)


def parse_status_interval(text: str) -> float:
    """Seconds between status lines; 0 (``0``, ``0s``) turns them off."""
    if _ZERO.fullmatch(text):
        return 0.0
    return parse_duration(text, what="--status-interval")


@contextlib.contextmanager
def periodic_status(
    render: Callable[[], Text], interval: float, console: Console
) -> Iterator[None]:
    """Print ``render()`` on ``console`` every ``interval`` seconds while the block runs (a
    daemon thread; nothing when ``interval`` is 0)."""
    if interval <= 0:
        yield
        return
    done = threading.Event()

    def loop() -> None:
        while not done.wait(interval):
            console.print(render(), soft_wrap=True)
            with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe
                console.file.flush()

    thread = threading.Thread(target=loop, name="horizons-status", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(5)


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


def report_delivery(report: DeliveryReport, console: Console) -> None:
    """One line on stderr: what was delivered and what was not."""
    style = "green" if report.complete else "bold red"
    console.print(
        f"[{style}]delivered {report.delivered:,} of {report.sent:,}; failed {report.failed:,}"
        + (
            f" ({report.undelivered_at_close:,} still queued at shutdown)"
            if report.undelivered_at_close
            else ""
        )
        + "[/]"
    )
