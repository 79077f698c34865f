"""``horizons topics``: ensure, list, describe, alter (kafka-topics.sh / kafka-configs.sh).

Exit codes (:class:`.exits.Exit`, docs/exit-codes.md): 0 done or in sync; 1 drift remains
(``ensure``) or no such topic; 2 bad arguments or settings; 3 the broker was unreachable,
refused, or does not support the operation (then nothing was changed); 4 SASL authentication
or TLS failed; 5 ``alter`` needs a confirmation it did not get (no terminal and no ``--yes``,
or declined): nothing was changed.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import msgspec
import typer
from rich.table import Table

from .._units import format_duration_ms
from ..topics import (
    EnsureResult,
    TopicAdmin,
    TopicSpec,
    TopicState,
    desired_topic,
    dlq_topic_name,
)
from .common import (
    BootstrapOpt,
    JsonOpt,
    ProfileOpt,
    TopicOpt,
    fail,
    load_settings,
    out_console,
    print_json,
)
from .exits import Exit

__all__ = ["app"]

app = typer.Typer(
    name="topics",
    help="Topics as desired vs actual: ensure, list, describe, alter retention.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="Topic name.", show_default=False)]


def show_value(key: str, value: str | None) -> str:
    if value is None:
        return "(not set)"
    if key.endswith(".ms") and value.lstrip("-").isdigit():
        return f"{value} ({format_duration_ms(int(value))})"
    return value


# -- ensure ------------------------------------------------------------------------------


def _ensure_rows(spec: TopicSpec, result: EnsureResult) -> list[tuple[str, str, str, str]]:
    before, after, actual = result.before, result.after, result.actual
    new = "created" if result.created else "ok"
    rows: list[tuple[str, str, str, str]] = []

    if after.partitions_to_add:
        status = f"drift: add {after.partitions_to_add} (--fix)"
    elif after.too_many_partitions:
        status = "drift: cannot shrink"
    elif before.partitions_to_add:
        status = f"fixed (was {before.actual_partitions})"
    else:
        status = new
    rows.append(
        (
            "partitions",
            str(spec.partitions),
            "-" if actual is None else str(actual.partition_count),
            status,
        )
    )
    rows.append(
        (
            "replication factor",
            str(spec.replication_factor),
            "-" if actual is None else str(actual.replication_factor),
            "drift: needs reassignment" if after.replication_mismatch else new,
        )
    )
    drifted_before = {d.key: d for d in before.configs}
    drifted_after = {d.key for d in after.configs}
    for key, desired in sorted(spec.configs.items()):
        value = None if actual is None else actual.configs.get(key)
        if key in drifted_after:
            status = "drift (--fix)"
        elif key in drifted_before:
            status = f"fixed (was {show_value(key, drifted_before[key].actual)})"
        else:
            status = new
        rows.append((key, show_value(key, desired), show_value(key, value), status))
    return rows


def _grow_hint(spec: TopicSpec, result: EnsureResult) -> str | None:
    """How to grow a topic that has fewer partitions than asked for, when it has."""
    if not result.after.partitions_to_add:
        return None
    return (
        f"grow it with: horizons topics ensure --topic {spec.name} --partitions "
        f"{spec.partitions} --fix (partitions can only be added; a key may then map to "
        "another partition than its earlier records)"
    )


def _at_least_actual(admin: TopicAdmin, spec: TopicSpec) -> TopicSpec:
    """``spec`` with the topic's own partition count when it has more: more partitions than
    asked for are fine (Kafka cannot remove them, and consumers gain parallelism)."""
    actual = admin.diff(spec).actual_partitions
    if actual is not None and actual > spec.partitions:
        return dataclasses.replace(spec, partitions=actual)
    return spec


def _print_ensure(spec: TopicSpec, profile: str, result: EnsureResult, fix: bool) -> None:
    table = Table(title=f"{spec.name} ({profile}): desired vs actual", title_justify="left")
    for column in ("setting", "desired", "actual", "status"):
        table.add_column(column)
    for row in _ensure_rows(spec, result):
        style = "red" if row[3].startswith("drift") else None
        table.add_row(*row, style=style)
    out_console.print(table)
    for line in result.applied:
        out_console.print(f"  applied: {line}", soft_wrap=True)
    if result.in_sync:
        what = "created, in sync" if result.created else "in sync"
        if result.applied and not result.created:
            what = "fixed, in sync"
        out_console.print(f"{spec.name}: {what}", soft_wrap=True)
        return
    out_console.print(f"{spec.name}: drift remains", soft_wrap=True)
    for line in result.after.problems():
        out_console.print(f"  - {line}", soft_wrap=True)
    if result.after.fixable and not fix:
        out_console.print("  run again with --fix to apply the fixable differences")
    hint = _grow_hint(spec, result)
    if hint is not None:
        out_console.print(f"  {hint}", soft_wrap=True)


@app.command()
def ensure(
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    profile: ProfileOpt = None,
    fix: Annotated[
        bool,
        typer.Option("--fix", help="Apply config drift and missing partitions to existing topics."),
    ] = False,
    with_dlq: Annotated[
        bool,
        typer.Option("--with-dlq", help="Also ensure the dead-letter topic <topic>.dlq."),
    ] = False,
    partitions: Annotated[
        int | None,
        typer.Option(
            "--partitions",
            help="Partitions wanted (for more consumer parallelism); never fewer than the "
            "profile's \\[default: the profile's].",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create the topic as the profile says, or compare it with the profile (and --fix it).

    Exit 0 when every topic is in sync (already, created, or fixed), 1 when drift remains.
    """
    settings = load_settings(bootstrap, topic, profile)
    spec = desired_topic(settings.profile, settings.topic)
    if partitions is not None:
        if partitions < spec.partitions:
            fail(
                f"--partitions {partitions}: the {settings.profile} profile needs at least "
                f"{spec.partitions}",
                Exit.USAGE,
            )
        spec = dataclasses.replace(spec, partitions=partitions)
    specs = [spec]
    if with_dlq:
        specs.append(dataclasses.replace(spec, name=dlq_topic_name(spec.name)))
    admin = TopicAdmin(settings)
    specs = [_at_least_actual(admin, s) for s in specs]
    results = [admin.ensure(s, fix=fix) for s in specs]
    if as_json:
        print_json(
            [
                {
                    **msgspec.to_builtins(r),
                    "in_sync": r.in_sync,
                    "problems": r.after.problems(),
                    "grow": _grow_hint(s, r),
                }
                for s, r in zip(specs, results, strict=True)
            ]
        )
    else:
        for s, r in zip(specs, results, strict=True):
            _print_ensure(s, settings.profile, r, fix)
    if not all(r.in_sync for r in results):
        raise typer.Exit(Exit.PROBLEM)


# -- list / describe ---------------------------------------------------------------------


@app.command("list")
def list_topics(
    bootstrap: BootstrapOpt = None,
    internal: Annotated[
        bool, typer.Option("--internal", help="Include internal topics (__consumer_offsets...).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the cluster's topics with partitions and replication factor."""
    topics = TopicAdmin(load_settings(bootstrap)).list(internal=internal)
    if as_json:
        print_json(topics)
        return
    table = Table(title=f"{len(topics)} topic(s)", title_justify="left")
    table.add_column("topic")
    table.add_column("partitions", justify="right")
    table.add_column("replication", justify="right")
    table.add_column("under-replicated", justify="right")
    for t in topics:
        table.add_row(t.name, str(t.partitions), str(t.replication_factor), str(t.under_replicated))
    out_console.print(table)


def _state_json(state: TopicState) -> dict[str, Any]:
    return {
        **msgspec.to_builtins(state),
        "partition_count": state.partition_count,
        "replication_factor": state.replication_factor,
        "under_replicated": list(state.under_replicated),
    }


@app.command()
def describe(name: NameArg, bootstrap: BootstrapOpt = None, as_json: JsonOpt = False) -> None:
    """Partitions (leader, replicas, ISR) and configs of a topic. Exit 1 if it does not exist."""
    state = TopicAdmin(load_settings(bootstrap)).describe(name)
    if as_json:
        print_json(_state_json(state))
        return
    out_console.print(
        f"[bold]{state.name}[/]  partitions: {state.partition_count}  "
        f"replication factor: {state.replication_factor}  "
        f"under-replicated: {len(state.under_replicated)}",
        soft_wrap=True,
    )
    parts = Table(title_justify="left")
    for column in ("partition", "leader", "replicas", "isr"):
        parts.add_column(column, justify="right" if column != "replicas" else "left")
    for p in state.partitions:
        parts.add_row(
            str(p.id),
            "none" if p.leader is None else str(p.leader),
            ",".join(map(str, p.replicas)),
            ",".join(map(str, p.isr)),
            style="red" if p.under_replicated or p.leader is None else None,
        )
    out_console.print(parts)
    configs = Table(title="configs", title_justify="left")
    configs.add_column("key")
    configs.add_column("value")
    for key, value in state.configs.items():
        configs.add_row(key, show_value(key, value))
    out_console.print(configs)
