"""``horizons groups``: reset a consumer group's offsets, delete a group
(kafka-consumer-groups --reset-offsets / --delete).

Exit codes (:class:`.exits.Exit`): 0 done (or the dry run printed); 1 no such group (no
committed offsets, no --topic); 2 bad arguments; 3 the broker was unreachable or refused;
5 the group has live members, or a delete was not confirmed: nothing was changed.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import typer
from rich.table import Table

from ..archiver.reader import format_ms, parse_time
from ..groups import GroupAdmin, GroupBusyError, ResetPlan, ResetTo
from .common import BootstrapOpt, JsonOpt, err_console, fail, load_settings, out_console, print_json
from .confirm import confirm_or_refuse
from .exits import Exit

__all__ = ["app"]

app = typer.Typer(
    name="groups",
    help="Consumer groups: reset offsets, delete.",
    no_args_is_help=True,
)

GroupArg = Annotated[str, typer.Argument(help="Consumer group id.", show_default=False)]


def _describe_to(to: ResetTo) -> str:
    if to.kind == "datetime":
        return f"the first record at or after {format_ms(to.value)}"
    if to.kind == "shift":
        return f"the committed offset {to.value:+d}"
    return to.kind


def _print_plan(plan: ResetPlan, *, executed: bool) -> None:
    title = f"reset {plan.group} to {_describe_to(plan.to)}" + ("" if executed else " (dry run)")
    table = Table(title=title, title_justify="left")
    for column in ("topic", "partition", "log start", "high watermark", "current", "new"):
        table.add_column(column, justify="left" if column == "topic" else "right")
    for p in plan.partitions:
        table.add_row(
            p.topic,
            str(p.partition),
            str(p.log_start),
            str(p.high_watermark),
            "-" if p.current is None else str(p.current),
            str(p.new),
            style=None if p.changes else "dim",
        )
    out_console.print(table)
    for line in plan.skipped:
        err_console.print(f"skipped {line}", markup=False)


@app.command()
def reset(
    group: GroupArg,
    to_earliest: Annotated[
        bool, typer.Option("--to-earliest", help="Each partition's log start.")
    ] = False,
    to_latest: Annotated[
        bool, typer.Option("--to-latest", help="Each partition's end (skip everything).")
    ] = False,
    to_datetime: Annotated[
        str | None,
        typer.Option(
            "--to-datetime",
            help="The first record timed at or after this (ISO 8601, now-2h, -7d); the end "
            "where none is.",
            show_default=False,
        ),
    ] = None,
    shift: Annotated[
        int | None,
        typer.Option(
            "--shift", help="Move the committed offset by N (negative: back).", show_default=False
        ),
    ] = None,
    topic: Annotated[
        str | None,
        typer.Option(
            "--topic", "-t", help="Only this topic (default: every topic the group committed)."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan only.")] = False,
    execute: Annotated[bool, typer.Option("--execute", help="Commit the new offsets.")] = False,
    bootstrap: BootstrapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move a group's committed offsets (the group must have no live members).

    Needs --dry-run (print the plan) or --execute (commit it). New offsets stay within each
    partition's log start and end. Exit 5 while the group has live members.
    """
    if dry_run == execute:
        fail("groups reset: give one of --dry-run (print the plan) or --execute", Exit.USAGE)
    to = ResetTo.from_options(
        earliest=to_earliest,
        latest=to_latest,
        datetime_ms=None if to_datetime is None else parse_time(to_datetime, what="--to-datetime"),
        shift=shift,
    )
    admin = GroupAdmin(load_settings(bootstrap))
    try:
        info = admin.require_idle(group)
    except GroupBusyError as exc:
        if execute:
            fail(str(exc), Exit.REFUSED)
        err_console.print(f"[yellow]warning:[/] {exc}; --execute will be refused", soft_wrap=True)
        info = None
    plan = admin.plan(group, to, topic)
    if execute and not plan.partitions:
        fail(f"groups reset {group}: nothing to reset ({'; '.join(plan.skipped)})", Exit.PROBLEM)
    if execute:
        admin.alter(group, plan.offsets)
    if as_json:
        print_json(
            {
                **msgspec.to_builtins(plan),
                "state": None if info is None else info.state,
                "executed": execute,
            }
        )
    else:
        _print_plan(plan, executed=execute)
        if execute:
            out_console.print(f"{group}: {len(plan.partitions)} offset(s) committed")
        else:
            err_console.print("dry run: nothing was changed; run with --execute to commit")


@app.command()
def delete(
    group: GroupArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (for scripts).")] = False,
    bootstrap: BootstrapOpt = None,
) -> None:
    """Delete a consumer group and its committed offsets (it must have no live members).

    Asks first; without a terminal it needs --yes (otherwise exit 5, nothing changed).
    """
    admin = GroupAdmin(load_settings(bootstrap))
    try:
        admin.require_idle(group)
    except GroupBusyError as exc:
        fail(str(exc), Exit.REFUSED)
    committed = admin.committed(group)
    if not committed:
        fail(f"group {group} does not exist (no live members, no committed offsets)")
    topics = sorted({t for t, _ in committed})
    what = f"{len(committed)} committed offset(s) on {', '.join(topics) or 'no topic'}"
    err_console.print(f"group {group}: {what}", soft_wrap=True, markup=False)
    confirm_or_refuse(f"delete group {group}", f"delete group {group} and {what}?", yes=yes)
    try:
        admin.delete(group)
    except GroupBusyError as exc:
        fail(str(exc), Exit.REFUSED)
    out_console.print(f"deleted group {group}")
