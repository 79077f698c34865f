"""``horizons monitor`` and ``horizons lag``: the topic snapshot and consumer-group lag.

Exit codes (for scripts and probes; :class:`.exits.Exit`, docs/exit-codes.md): 0 healthy,
1 degraded (WARN, under-replicated partitions, offsets or configs unreadable) or no such group
(``lag --group``), 3 broker unreachable, 4 SASL/TLS failed, 6 topic missing (``monitor``),
7 unhealthy (a partition without a leader, a group in STOP, STALL, REWIND or ERR), 8 (``lag``
only) not judged: the worst group is UNKNOWN, lag seen in one sample with no trend yet.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .._units import format_bytes, format_duration_ms, parse_duration
from ..archiver.archiver import DEFAULT_GROUP as ARCHIVER_GROUP
from ..errors import recent_security_error
from ..monitor import GroupLag, KafkaSnapshot, LagStatus, Monitor
from ..monitor.health import ServiceHealth, lag_health, snapshot_health
from ..publisher import CLIENT_ID
from .common import (
    BootstrapOpt,
    JsonOpt,
    TopicOpt,
    err_console,
    fail,
    load_settings,
    out_console,
    print_json,
)
from .exits import Exit, stop_on_signals

TimeoutOpt = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for each broker request.")
]
_STATUS_STYLE: dict[LagStatus, str] = {
    "OK": "green",
    "UNKNOWN": "cyan",
    "WARN": "yellow",
    "STALL": "red",
    "STOP": "red",
    "REWIND": "magenta",
    "ERR": "bold red",
}
#: Health as an exit code (Health's own values are the probes' order, not exit codes).
_HEALTH_EXIT = {
    ServiceHealth.HEALTHY: Exit.OK,
    ServiceHealth.DEGRADED: Exit.PROBLEM,
    ServiceHealth.UNHEALTHY: Exit.UNHEALTHY,
    ServiceHealth.UNKNOWN: Exit.UNKNOWN,
}
_HEALTH_STYLE = {
    ServiceHealth.HEALTHY: "green",
    ServiceHealth.DEGRADED: "yellow",
    ServiceHealth.UNHEALTHY: "bold red",
    ServiceHealth.UNKNOWN: "cyan",
}


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    if value < 0:
        return "unlimited"
    return format_bytes(value)


def _opt(value: object) -> str:
    return "-" if value is None else str(value)


def render_snapshot(
    snapshot: KafkaSnapshot, bootstrap: str, *, rate: float | None = None
) -> RenderableType:
    """The snapshot as a rich panel (summary) above a partitions table."""
    health, reasons = snapshot_health(snapshot)
    style = _HEALTH_STYLE[health]
    lines = Text()
    if snapshot.connected:
        lines.append("connected", style="green")
        lines.append(f"   latency {snapshot.latency_ms} ms   cluster {_opt(snapshot.cluster_id)}\n")
        brokers = ", ".join(
            f"{b.id}@{b.host}:{b.port}"
            + (" (controller)" if b.id == snapshot.controller_id else "")
            for b in snapshot.brokers or []
        )
        lines.append(f"brokers      {brokers or '-'}\n")
        lines.append(f"latestOffset {_opt(snapshot.latest_offset)}")
        if rate is not None:
            lines.append(f"   rate {rate:.1f} msg/s")
        lines.append(
            f"\npartitions   {_opt(snapshot.partitions)}"
            f"   under-replicated {_opt(snapshot.under_replicated_partitions)}\n"
        )
        retention = (
            "-" if snapshot.retention_ms is None else format_duration_ms(snapshot.retention_ms)
        )
        lines.append(f"retention    {retention} / {_size(snapshot.retention_bytes)}\n")
    else:
        lines.append("NOT connected\n", style="bold red")
    lines.append(health.name.lower(), style=style)
    for reason in reasons:
        lines.append(f"\n  - {reason}")
    polled = time.strftime("%H:%M:%S", time.localtime(snapshot.polled_at))
    panel = Panel(
        lines,
        title=f"Kafka {bootstrap} · topic {snapshot.topic}",
        subtitle=f"polled {polled}",
        border_style=style,
        expand=False,
    )
    if not snapshot.partition_details:
        return panel
    table = Table(title=f"partitions of {snapshot.topic}", title_justify="left")
    for column in ("partition", "leader", "replicas", "ISR", "earliest", "latest"):
        table.add_column(column, justify="right")
    table.add_column("under-replicated")
    for p in snapshot.partition_details:
        table.add_row(
            str(p.partition),
            _opt(p.leader),
            ",".join(map(str, p.replicas)),
            ",".join(map(str, p.isr)),
            _opt(p.earliest_offset),
            _opt(p.latest_offset),
            Text("yes", style="yellow") if p.under_replicated else Text("no"),
        )
    return Group(panel, table)


def monitor(
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Live view until Ctrl-C.")] = False,
    interval: Annotated[
        str, typer.Option("--interval", "-i", help="Time between polls with --watch.")
    ] = "2s",
    timeout: TimeoutOpt = 5.0,
    as_json: JsonOpt = False,
) -> None:
    """The topic snapshot: connected, latencyMs, latestOffset, partitions, ISR, retention.

    Exit 0 healthy, 1 degraded (under-replicated, unreadable offsets), 3 unreachable,
    6 topic missing, 7 unhealthy (a leaderless partition). With --watch and --json: JSON lines.
    """
    every = parse_duration(interval, what="--interval")
    settings = load_settings(bootstrap, topic)
    bootstrap_servers = settings.require_bootstrap()
    with stop_on_signals() as stop, Monitor(settings, timeout=timeout) as mon:
        if not watch:
            snapshot = mon.poll()
            if as_json:
                print_json(snapshot)
            else:
                out_console.print(render_snapshot(snapshot, bootstrap_servers))
            security = None if snapshot.connected else recent_security_error(bootstrap_servers)
            if security is not None:  # SASL/TLS failed: the whole line says what to check
                if as_json:
                    raise typer.Exit(Exit.SECURITY)
                fail(snapshot.error or str(security), Exit.SECURITY)
            raise typer.Exit(snapshot_exit(snapshot))
        _watch(mon, bootstrap_servers, every, as_json, stop)


def snapshot_exit(snapshot: KafkaSnapshot) -> Exit:
    """``monitor``'s exit code for a snapshot."""
    if not snapshot.connected:
        return Exit.UNREACHABLE
    if snapshot.partition_details is None:
        return Exit.TOPIC_MISSING
    return _HEALTH_EXIT[snapshot_health(snapshot)[0]]


def _watch(
    mon: Monitor, bootstrap: str, every: float, as_json: bool, stop: threading.Event
) -> None:
    previous: KafkaSnapshot | None = None
    if as_json:
        while not stop.is_set():
            print_json(mon.poll())
            stop.wait(every)
        return
    with Live(console=out_console, auto_refresh=False) as live:
        while not stop.is_set():
            snapshot = mon.poll()
            rate = None
            if (
                previous is not None
                and previous.latest_offset is not None
                and snapshot.latest_offset is not None
                and snapshot.polled_at > previous.polled_at
            ):
                delta = max(0, snapshot.latest_offset - previous.latest_offset)
                rate = delta / (snapshot.polled_at - previous.polled_at)
            live.update(render_snapshot(snapshot, bootstrap, rate=rate), refresh=True)
            previous = snapshot
            stop.wait(every)


def _status(status: LagStatus) -> Text:
    return Text(status, style=_STATUS_STYLE[status])


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_groups(groups: Sequence[GroupLag]) -> Table:
    """One row per group: status, rule, total and max lag."""
    table = Table(title="consumer groups", title_justify="left")
    table.add_column("group")
    table.add_column("state")
    table.add_column("members", justify="right")
    table.add_column("status")
    table.add_column("total lag", justify="right")
    table.add_column("max lag", justify="right")
    table.add_column("max lag s", justify="right")
    table.add_column("rule")
    for g in groups:
        table.add_row(
            g.group,
            g.state,
            str(g.members),
            _status(g.status),
            str(g.total_lag),
            str(g.max_lag),
            _seconds(g.max_lag_seconds),
            g.rule,
        )
    return table


def render_partitions(group: GroupLag) -> Table:
    """A group's partitions, as ``kafka-consumer-groups.sh --describe`` lists them."""
    table = Table(
        title=f"group {group.group}: {group.status} · {group.state} · {group.members} member(s)",
        title_justify="left",
    )
    table.add_column("topic")
    for column in ("partition", "current offset", "log end offset", "lag", "lag s"):
        table.add_column(column, justify="right")
    table.add_column("status")
    table.add_column("rule")
    for p in group.partitions:
        table.add_row(
            p.topic,
            str(p.partition),
            _opt(p.committed),
            _opt(p.high_watermark),
            _opt(p.lag),
            _seconds(p.lag_seconds),
            _status(p.status),
            p.rule,
        )
    return table


def lag(
    group: Annotated[
        str | None, typer.Option("--group", "-g", help="One group, with its partitions.")
    ] = None,
    samples: Annotated[
        int,
        typer.Option(
            "--samples",
            "-n",
            min=1,
            help="Offset samples to take; Burrow's rules judge the window they make "
            "(make it longer than the consumers' commit interval). With 1, a group with lag "
            "is UNKNOWN (exit 8): one sample shows no trend.",
        ),
    ] = 5,
    interval: Annotated[str, typer.Option("--interval", "-i", help="Time between samples.")] = "2s",
    bootstrap: BootstrapOpt = None,
    timeout: TimeoutOpt = 5.0,
    as_json: JsonOpt = False,
) -> None:
    """Consumer-group lag judged by Burrow's rules; every group, or one with its partitions.

    Exit 0 all OK, 1 a group in WARN or no such group (--group), 3 the broker unreachable,
    7 a group in STOP, STALL, REWIND or ERR, 8 the worst group is UNKNOWN (lag in one sample:
    with --samples 1 a lagging group cannot be judged).
    """
    every = parse_duration(interval, what="--interval")
    settings = load_settings(bootstrap)
    settings.require_bootstrap()
    groups: list[GroupLag] = []
    with (
        Monitor(settings, timeout=timeout, window=max(samples, 2), min_sample_interval=0.0) as mon,
        err_console.status(f"sampling offsets ({samples} x {interval})"),
    ):
        for n in range(samples):
            if n:
                time.sleep(every)
            groups = mon.lag(group)
    if group is not None and not any(g.partitions for g in groups):
        state = groups[0].state if groups else "unknown"
        hint = ""
        if group == CLIENT_ID:  # the spec's kafka-consumer-groups example names it
            hint = (
                f"; {CLIENT_ID} is the producer's client.id, not a consumer group: see the "
                f"archiver's group ({ARCHIVER_GROUP}) or every group (`horizons lag`)"
            )
        fail(f"group {group!r} not found: no committed offsets (state {state}){hint}")
    health, _ = lag_health(groups)
    if as_json:
        print_json(groups)
    elif group is not None:
        out_console.print(render_partitions(groups[0]))
        out_console.print(
            Text(f"{groups[0].status}: {groups[0].rule}", style=_HEALTH_STYLE[health])
        )
    elif not groups and settings.sasl_username:
        # Kafka lists only the groups the principal may Describe: none may mean no rights.
        out_console.print(
            f"no consumer groups visible to {settings.sasl_username}: a principal sees only "
            "the groups it may Describe (`horizons acls check` lists what it lacks)"
        )
    elif not groups:
        out_console.print("no consumer groups")
    else:
        out_console.print(render_groups(groups))
    raise typer.Exit(_HEALTH_EXIT[health])


def register(app: typer.Typer) -> None:
    app.command()(monitor)
    app.command()(lag)
