"""``horizons doctor``: every health check, one line each with the command that fixes it.

Exit codes (:class:`.exits.Exit`, docs/exit-codes.md): 0 every check OK, 1 warnings only,
7 (UNHEALTHY) at least one failure, 3 the cluster could not be reached at all, 4 SASL/TLS
failed, 2 bad arguments. (Issue 14 asked 0/1/2; 2 is USAGE in the one exit table.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .._units import parse_duration
from ..doctor import run_checks, worst_level
from ..doctor.gather import gather
from ..doctor.history import LastCheck, default_state_path, read_last, write_last
from ..doctor.state import CheckResult, ClusterState
from ..scaling.exporter import broker_metrics_urls
from .common import (
    BootstrapOpt,
    JsonOpt,
    ProfileOpt,
    StorageOpt,
    TopicOpt,
    load_settings,
    out_console,
    print_json,
)
from .exits import Exit

__all__ = ["register"]

_STYLE = {"OK": "green", "SKIP": "dim", "WARN": "yellow", "FAIL": "bold red"}


def exit_code(state: ClusterState, results: list[CheckResult]) -> Exit:
    """0 all OK, 1 warnings, 7 failures; 3 when the cluster did not answer at all."""
    if state.error is not None:
        return Exit.UNREACHABLE
    worst = worst_level(r.level for r in results)
    return {"OK": Exit.OK, "WARN": Exit.PROBLEM}.get(worst, Exit.UNHEALTHY)


def _print(results: list[CheckResult]) -> None:
    for r in results:
        style = _STYLE[r.level]
        out_console.print(
            f"[{style}]{r.level:<4}[/] {r.check:<12} {escape(r.message)}", soft_wrap=True
        )
        if r.fix and r.level in ("WARN", "FAIL"):
            out_console.print(f"{'':17} fix: {escape(r.fix)}", soft_wrap=True)


def doctor(
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    profile: ProfileOpt = None,
    brokers: Annotated[
        int | None,
        typer.Option("--brokers", help="How many brokers the cluster should have.", min=1),
    ] = None,
    storage: StorageOpt = None,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            help="Where the last run's figures are kept, for growth since the last check "
            "\\[default: ~/.local/state/cosmic-horizons/doctor/].",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[str, typer.Option("--timeout", help="Per-call timeout, e.g. 5s.")] = "5s",
    lag_interval: Annotated[
        str,
        typer.Option(
            "--lag-interval",
            help="Time between the two lag samples Burrow's rules judge; longer than the "
            "consumers' commit interval (5 s by default), or a healthy consumer looks stalled.",
        ),
    ] = "6s",
    as_json: JsonOpt = False,
) -> None:
    """Run every check: brokers, controller, listeners, topic layout, replication, lag and
    retention headroom, disk, clock skew, dead letters, the archive (with --storage), and
    the brokers' JMX exporters (with HORIZONS_BROKER_METRICS).

    Exit 0 all OK, 1 warnings, 7 failures, 3 when the cluster does not answer.
    """
    settings = load_settings(bootstrap, topic, profile)
    seconds = parse_duration(timeout, what="--timeout")
    interval = parse_duration(lag_interval, what="--lag-interval")
    exporters = broker_metrics_urls()
    path = state or default_state_path(settings.require_bootstrap(), settings.topic)
    found = gather(
        settings,
        expected_brokers=brokers,
        last=read_last(path),
        storage=storage,
        exporters=exporters,
        timeout=seconds,
        lag_interval=interval,
    )
    results = run_checks(found)
    if found.error is None:
        write_last(
            path,
            LastCheck(
                at_ms=found.now_ms,
                usage_bytes=None if found.usage is None else found.usage.total_bytes,
                dlq_records=found.dlq_records,
            ),
        )
    code = exit_code(found, results)
    if as_json:
        print_json(
            {
                "bootstrap": found.bootstrap,
                "topic": found.topic,
                "level": worst_level(r.level for r in results),
                "exit_code": int(code),
                "results": results,
            }
        )
    else:
        _print(results)
    if code != Exit.OK:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``doctor`` to the root app."""
    app.command("doctor")(doctor)
