"""A simulated run, as ``simulate`` and ``up`` make it: the simulator streamed through the
publisher with a live line, stopped at ``--duration`` or on a signal, flushed, reported once,
and its exit code."""

from __future__ import annotations

import contextlib
import threading
import time

import typer
from rich.live import Live
from rich.text import Text

from ..publisher import DeliveryReport, Publisher
from ..simulator import ArraySimulator, stream
from .common import err_console
from .exits import Exit
from .live import periodic_status, publisher_line, report_delivery

__all__ = ["STOP_FLUSH_S", "exit_code", "report_run", "run_and_exit", "run_simulation"]

#: How long a run stopped by Ctrl-C/SIGTERM waits for deliveries before its final report
#: (well inside the 10 s Compose and 30 s Kubernetes grace; with a spool nothing is lost).
STOP_FLUSH_S = 5.0


def _interrupt_at_end(
    publisher: Publisher, stop: threading.Event | None, duration_s: float | None
) -> threading.Event:
    """Unblock a publish() waiting on a full queue or spool at ``--duration`` or on
    ``stop``; set the returned event when the run ends normally."""
    finished = threading.Event()
    deadline = None if duration_s is None else time.monotonic() + duration_s

    def watch() -> None:
        while not finished.wait(0.1):
            if (stop is not None and stop.is_set()) or (
                deadline is not None and time.monotonic() >= deadline
            ):
                publisher.interrupt()
                return

    threading.Thread(target=watch, name="run-deadline", daemon=True).start()
    return finished


def run_simulation(
    publisher: Publisher,
    simulator: ArraySimulator,
    *,
    rate: float,
    duration_s: float | None,
    count: int | None,
    live: bool = True,
    status_interval: float = 0.0,
    stop: threading.Event | None = None,
) -> DeliveryReport:
    """Stream the simulator through ``publisher`` with a live stats line (or, when ``live``
    is off, the same line every ``status_interval`` seconds); ``stop`` (set by Ctrl-C or
    SIGTERM, see :func:`.exits.stop_on_signals`) ends it between ticks, never inside a Kafka
    call; what was queued is flushed and reported."""
    started = time.monotonic()
    target = rate * len(simulator.elements)

    def line() -> Text:
        return publisher_line(publisher.snapshot(), target_rate=target, started=started)

    display: contextlib.AbstractContextManager[object]
    if live:
        display = Live(
            get_renderable=line, console=err_console, refresh_per_second=4, transient=False
        )
    else:
        display = periodic_status(line, status_interval, err_console)
    finished = _interrupt_at_end(publisher, stop, duration_s)
    with display:
        stream(
            simulator,
            publisher.publish_many,
            rate_hz=rate,
            duration_s=duration_s,
            count=count,
            stop=stop,
        )
    finished.set()
    stopped = stop is not None and stop.is_set()
    if stopped:
        err_console.print("stopping: flushing queued packets...")
    report = publisher.close(timeout=STOP_FLUSH_S if stopped else 30.0)
    report_run(report)
    return report


def report_run(report: DeliveryReport) -> None:
    """The run's one summary line: delivered, failed, and what waits in the spool."""
    if report.spool_path is None or (report.spooled == 0 and report.dropped == 0):
        report_delivery(report, err_console)
        return
    dropped = (
        f"; {report.dropped:,} DROPPED by --spool-policy drop-oldest" if report.dropped else ""
    )
    err_console.print(
        f"[bold yellow]delivered {report.delivered:,} of {report.sent:,}; failed "
        f"{report.failed:,}; {report.spooled:,} spooled in {report.spool_path} (not lost: the "
        f"next run with --spool {report.spool_path}, or `horizons spool drain`, delivers them)"
        f"{dropped}[/]",
        soft_wrap=True,
    )


def exit_code(report: DeliveryReport) -> Exit:
    """OK, PROBLEM (failed or dropped packets) or SPOOLED (left in the spool, none lost)."""
    if not report.kept:
        return Exit.PROBLEM
    if report.spooled:
        return Exit.SPOOLED
    return Exit.OK if report.complete else Exit.PROBLEM


def run_and_exit(
    publisher: Publisher,
    simulator: ArraySimulator,
    *,
    rate: float,
    status_interval: float,
    stop: threading.Event,
    duration_s: float | None = None,
    count: int | None = None,
) -> None:
    """The run both ``simulate`` and ``up`` make: stream, report, exit with its code."""
    report = run_simulation(
        publisher,
        simulator,
        rate=rate,
        duration_s=duration_s,
        count=count,
        live=err_console.is_terminal,
        status_interval=status_interval,
        stop=stop,
    )
    code = exit_code(report)
    if code is not Exit.OK:
        raise typer.Exit(code)
