"""``horizons topics trim NAME --archived``: drop from Kafka only what the archive holds.

Registered onto the ``topics`` sub-app with :func:`register`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import typer
from rich.table import Table

from ..archiver.storage import ArchiveStorage
from ..archiver.trim import (
    TrimPlan,
    apply_trim,
    check_same_topic,
    footer_check,
    partition_offsets,
    plan_trim,
)
from ..errors import HorizonsError, UnsupportedByBrokerError
from .common import (
    BootstrapOpt,
    JsonOpt,
    StorageOpt,
    err_console,
    fail,
    load_settings,
    out_console,
    print_json,
)
from .exits import Exit, exit_for

__all__ = ["register"]


def trim(
    name: Annotated[str, typer.Argument(help="Topic to trim.")],
    archived: Annotated[
        bool,
        typer.Option(
            "--archived",
            help="Delete only records the archive holds, contiguously from each partition's "
            "log start (required: the only mode).",
        ),
    ] = False,
    storage: StorageOpt = None,
    bootstrap: BootstrapOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; change nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Advance each partition's log start (DeleteRecords) up to what the archive holds.

    Never past a gap in the archive, past its end or past the high watermark.
    Replaces the spec's `rm -f` of segment files.
    Exit 3 when the broker refuses or lacks DeleteRecords, 5 when the archive holds an
    older incarnation of the topic (deleted and created again); nothing is changed then.
    """
    if not archived:
        fail(
            "trim needs --archived: it deletes only what the archive holds (check with "
            "--dry-run first)",
            Exit.USAGE,
        )
    settings = load_settings(bootstrap, name)
    store = ArchiveStorage(storage)
    log_start, high = partition_offsets(settings, name)
    files = store.list_files(name)
    topic_id = check_same_topic(settings, store, name, files)
    plan = plan_trim(name, files, log_start, high, check=footer_check(store, topic_id))
    if not as_json:
        _print_plan(plan, store.url, dry_run=dry_run)
    if dry_run or not plan.moves:
        if as_json:
            _json(plan, applied=False, new_log_start=None)
        elif not plan.moves:
            err_console.print("nothing to trim: no partition's log start can move")
        return
    try:
        result = apply_trim(settings, plan)
    except UnsupportedByBrokerError as exc:
        if as_json:
            _json(plan, applied=False, new_log_start=None, error=str(exc))
        fail(
            f"the broker at {settings.require_bootstrap()} does not support DeleteRecords, so the "
            f"log start of {name} cannot be moved; nothing was changed. ({exc.answer}) "
            "On such a broker, shorten retention.ms instead and let the broker drop old segments.",
            Exit.UNREACHABLE,
        )
    except HorizonsError as exc:
        fail(f"trim of {name} failed: {exc}", exit_for(exc))
    if as_json:
        _json(plan, applied=True, new_log_start=result)
    else:
        moved = ", ".join(f"{p}: {o}" for p, o in sorted(result.items()))
        out_console.print(
            f"[green]trimmed[/] {name}: {plan.deletes:,} archived records deleted; "
            f"log start now {moved}"
        )


def _json(
    plan: TrimPlan,
    *,
    applied: bool,
    new_log_start: dict[int, int] | None,
    error: str | None = None,
) -> None:
    body = {
        **msgspec.to_builtins(plan),
        "deletes": plan.deletes,
        "applied": applied,
        "new_log_start": new_log_start,
        "error": error,
    }
    print_json(body)


def _print_plan(plan: TrimPlan, storage: str, *, dry_run: bool) -> None:
    title = f"trim {plan.topic} to the archive at {storage}" + (" (dry run)" if dry_run else "")
    table = Table(title=title, title_justify="left")
    for col in ("partition", "log start", "high watermark", "new log start", "deletes"):
        table.add_column(col, justify="right")
    table.add_column("why")
    for p in plan.partitions:
        table.add_row(
            str(p.partition),
            str(p.log_start),
            str(p.high_watermark),
            str(p.new_log_start),
            f"{p.deletes:,}",
            p.reason,
            style=None if p.changes else "dim",
        )
    out_console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``trim`` to the ``topics`` sub-app."""
    app.command("trim")(trim)
