"""``horizons cluster``: status, rebalance (plan, execute, status, cancel), drain.

Exit codes (:class:`.exits.Exit`, docs/exit-codes.md): 0 done (a plan printed, a reassignment
complete or submitted with ``--no-wait``, cancelled); 1 the reassignment did not finish within
``--timeout`` (it goes on: ``--status``, ``--cancel``); 2 bad arguments, plan file or broker
id; 3 the broker was unreachable or refused; 4 SASL/TLS failed; 5 refused for safety (the
remaining brokers cannot hold a replication factor, or a reassignment is in progress).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .._units import format_bytes, parse_duration, parse_size
from ..cluster import raise_if_refused
from ..config import KafkaSettings
from ..errors import ConfigError
from ..scaling import Plan, plan_drain, plan_rebalance, replica_counts
from ..scaling.execute import (
    ExecuteResult,
    cancel_reassignments,
    clear_throttle,
    execute_plan,
    throttled_topics,
)
from ..scaling.planfile import plan_from_entries, plan_json, read_plan_file, write_plan_file
from ..scaling.state import ClusterStatus, ClusterView, cluster_status, read_cluster
from .common import BootstrapOpt, JsonOpt, load_settings, out_console, print_json
from .exits import Exit

__all__ = ["app", "parse_brokers", "parse_throttle"]

app = typer.Typer(
    name="cluster",
    help="Brokers and partition reassignment: status, rebalance, drain.",
    no_args_is_help=True,
)

TopicsOpt = Annotated[
    list[str] | None,
    typer.Option("--topic", "-t", help="Only this topic (repeatable) \\[default: every topic]."),
]
BrokersOpt = Annotated[
    str | None,
    typer.Option("--brokers", help="Broker ids to spread over, e.g. 1,2,3,4 \\[default: all]."),
]
ThrottleOpt = Annotated[
    str | None,
    typer.Option("--throttle", help="Replication throttle while copying, e.g. 50MB/s."),
]
PlanFileOpt = Annotated[
    Path | None,
    typer.Option("--plan-file", help="Write the plan here (--plan), or execute this plan."),
]
WaitOpt = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait for the copies, then clean up.")
]
TimeoutOpt = Annotated[
    str, typer.Option("--timeout", help="How long --execute waits for the copies.")
]


def parse_brokers(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        ids = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(
            f"--brokers: {text!r} is not a list of broker ids such as 1,2,3"
        ) from None
    if not ids:
        raise ConfigError("--brokers: no broker id given")
    return ids


def parse_throttle(text: str | None) -> int | None:
    """``50MB/s`` (or ``50MB``) in bytes per second."""
    if text is None:
        return None
    rate = parse_size(text.strip().removesuffix("/s"), what="--throttle")
    if rate <= 0:
        raise ConfigError(f"--throttle: {text!r} must be more than 0 bytes/s")
    return rate


def _settings(bootstrap: str | None) -> KafkaSettings:
    settings = load_settings(bootstrap)
    raise_if_refused(settings)
    return settings


# -- status ------------------------------------------------------------------------------


def _print_status(status: ClusterStatus) -> None:
    out_console.print(
        f"cluster {status.cluster_id}: {len(status.brokers)} brokers, active controller "
        f"{status.controller_id if status.controller_id is not None else '?'}, "
        f"{status.partitions} partitions, {status.replicas} replicas",
        soft_wrap=True,
    )
    table = Table(title_justify="left")
    for column in ("broker", "address", "rack", "replicas", "leaders", "bytes"):
        table.add_column(column)
    for b in status.brokers:
        table.add_row(
            str(b.id),
            f"{b.host}:{b.port}",
            b.rack or "-",
            str(b.replicas),
            str(b.leaders),
            format_bytes(b.bytes),
        )
    out_console.print(table)
    state = "balanced" if status.balanced else "skewed (horizons cluster rebalance --plan)"
    out_console.print(
        f"skew: replicas {status.replica_skew}, leaders {status.leader_skew}: {state}; "
        f"under-replicated partitions: {status.under_replicated}",
        soft_wrap=True,
    )
    if not status.reassignments:
        out_console.print("no reassignment in progress")
    for r in status.reassignments:
        copied = "?" if r.copied is None else f"{r.copied:.0%}"
        out_console.print(
            f"  reassigning {r.topic}[{r.partition}]: replicas {list(r.replicas)}, adding "
            f"{list(r.adding)} ({copied} copied), removing {list(r.removing)}",
            soft_wrap=True,
        )


@app.command("status")
def status(bootstrap: BootstrapOpt = None, json_out: JsonOpt = False) -> None:
    """Brokers, controller, replicas and leaders per broker, skew, reassignments."""
    settings = _settings(bootstrap)
    result = cluster_status(read_cluster(settings), settings.require_bootstrap())
    print_json(result) if json_out else _print_status(result)


# -- plans -------------------------------------------------------------------------------


def _print_plan(plan: Plan, view: ClusterView) -> None:
    for m in plan.moves:
        extra = f", copies {format_bytes(m.moved_bytes)}" if m.adding else " (leader order only)"
        out_console.print(
            f"  {m.topic}[{m.partition}]: {list(m.before)} -> {list(m.after)}{extra}",
            soft_wrap=True,
        )
    before = replica_counts((p.replicas for p in view.layout.partitions), plan.brokers)
    after_map = {(p.topic, p.partition): p.replicas for p in view.layout.partitions}
    after_map.update({(m.topic, m.partition): m.after for m in plan.moves})
    after = replica_counts(after_map.values(), plan.brokers)
    counts = ", ".join(f"{b}: {before.get(b, 0)}->{after.get(b, 0)}" for b in sorted(after))
    out_console.print(
        f"plan: {len(plan.moves)} partition(s), {plan.replicas_moved} replica copies, "
        f"{format_bytes(plan.moved_bytes)}; replicas per broker {counts}",
        soft_wrap=True,
    )


def _print_result(result: ExecuteResult) -> None:
    if not result.completed and not result.remaining:
        out_console.print(
            f"submitted {result.submitted} partition(s); follow with horizons cluster rebalance "
            "--status (it removes the throttle when done)",
            soft_wrap=True,
        )
        return
    if result.completed:
        out_console.print(
            f"reassignment complete: {result.submitted} partition(s), "
            f"{format_bytes(result.moved_bytes)} in {result.seconds:.1f} s; "
            f"{result.leaders_elected} preferred leader(s) elected"
            + ("; throttle removed" if result.throttle_removed else ""),
            soft_wrap=True,
        )
        return
    out_console.print(
        f"not done after {result.seconds:.0f} s: {len(result.remaining)} partition(s) still "
        f"copying ({', '.join(result.remaining[:5])}); it goes on (--status, --cancel)",
        soft_wrap=True,
    )


def _run(
    settings: KafkaSettings,
    plan: Plan,
    view: ClusterView,
    *,
    throttle: int | None,
    wait: bool,
    timeout: float,
    json_out: bool,
) -> None:
    if not json_out:
        _print_plan(plan, view)
    if not plan.moves:
        print_json(
            ExecuteResult(
                submitted=0, moved_bytes=0, throttle=throttle, completed=True, seconds=0.0
            )
        ) if json_out else out_console.print("nothing to move")
        return
    result = execute_plan(
        settings,
        plan,
        throttle=throttle,
        wait=wait,
        timeout=timeout,
    )
    print_json(result) if json_out else _print_result(result)
    if wait and not result.completed:
        raise typer.Exit(Exit.PROBLEM)


def _modes(**flags: bool) -> str:
    chosen = [name for name, on in flags.items() if on]
    if len(chosen) != 1:
        raise ConfigError("rebalance: give exactly one of --plan, --execute, --status, --cancel")
    return chosen[0]


def _reassign_status(settings: KafkaSettings, json_out: bool) -> None:
    view = read_cluster(settings)
    result = cluster_status(view, settings.require_bootstrap())
    if not result.reassignments:  # done: the throttle it had is no longer needed
        from ..cluster import make_admin

        admin = make_admin(settings, timeout_ms=15000)
        left = throttled_topics(admin, {p.topic for p in view.layout.partitions}, 15.0)
        if left:
            clear_throttle(admin, left, [b.id for b in view.layout.brokers], 15.0)
            if not json_out:
                out_console.print(f"throttle removed from {', '.join(left)}", soft_wrap=True)
    print_json(result) if json_out else _print_status(result)


@app.command("rebalance")
def rebalance(
    plan: Annotated[bool, typer.Option("--plan", help="Print the reassignment.")] = False,
    execute: Annotated[bool, typer.Option("--execute", help="Apply it.")] = False,
    show_status: Annotated[bool, typer.Option("--status", help="Progress per partition.")] = False,
    cancel: Annotated[bool, typer.Option("--cancel", help="Stop the reassignment.")] = False,
    topic: TopicsOpt = None,
    brokers: BrokersOpt = None,
    throttle: ThrottleOpt = None,
    plan_file: PlanFileOpt = None,
    wait: WaitOpt = True,
    timeout: TimeoutOpt = "30m",
    bootstrap: BootstrapOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Spread replicas and leaders evenly over the brokers, copying as little as possible."""
    mode = _modes(plan=plan, execute=execute, status=show_status, cancel=cancel)
    rate = parse_throttle(throttle)
    ids = parse_brokers(brokers)
    wait_s = parse_duration(timeout, what="--timeout")
    entries = read_plan_file(plan_file) if mode == "execute" and plan_file is not None else None
    settings = _settings(bootstrap)
    if mode == "status":
        return _reassign_status(settings, json_out)
    if mode == "cancel":
        cancelled = cancel_reassignments(settings)
        print_json({"cancelled": cancelled}) if json_out else out_console.print(
            f"cancelled {len(cancelled)} partition reassignment(s); throttle removed"
        )
        return None
    view = read_cluster(settings)
    if entries is not None:
        chosen = plan_from_entries(entries, view.layout, f"--plan-file {plan_file}")
    else:
        chosen = plan_rebalance(view.layout, ids, topics=topic or None)
    if mode == "plan":
        if plan_file is not None:
            write_plan_file(chosen, plan_file)
        print_json(plan_json(chosen)) if json_out else _print_plan(chosen, view)
        return None
    return _run(settings, chosen, view, throttle=rate, wait=wait, timeout=wait_s, json_out=json_out)


@app.command("drain")
def drain(
    broker: Annotated[int, typer.Argument(help="The broker to empty.", show_default=False)],
    plan: Annotated[bool, typer.Option("--plan", help="Only print the moves.")] = False,
    throttle: ThrottleOpt = None,
    plan_file: PlanFileOpt = None,
    wait: WaitOpt = True,
    timeout: TimeoutOpt = "30m",
    bootstrap: BootstrapOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Move every replica off BROKER (before stopping it for good)."""
    rate = parse_throttle(throttle)
    wait_s = parse_duration(timeout, what="--timeout")
    settings = _settings(bootstrap)
    view = read_cluster(settings)
    chosen = plan_drain(view.layout, broker)
    if plan:
        if plan_file is not None:
            write_plan_file(chosen, plan_file)
        print_json(plan_json(chosen)) if json_out else _print_plan(chosen, view)
        return
    _run(settings, chosen, view, throttle=rate, wait=wait, timeout=wait_s, json_out=json_out)
