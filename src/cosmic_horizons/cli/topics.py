"""``horizons topics``: ensure, list, describe, alter (kafka-topics.sh / kafka-configs.sh).

Exit codes: 0 done or in sync; 1 drift remains (``ensure``) or no such topic; 2 bad arguments
or settings; 3 the broker was unreachable, refused, or does not support the operation (then
nothing was changed); 4 SASL authentication or TLS failed; 5 ``alter`` needs a confirmation
it did not get (no terminal and no ``--yes``, or declined): nothing was changed.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import msgspec
import typer
from rich.markup import escape
from rich.table import Table

from .._units import format_age_ms, format_bytes, format_duration_ms, parse_duration, parse_size
from ..config import KafkaSettings
from ..errors import ConfigError, HorizonsError, SecurityError, TopicError
from ..topics import (
    EnsureResult,
    TopicAdmin,
    TopicSpec,
    TopicState,
    desired_topic,
    dlq_topic_name,
)
from ..topics.ages import oldest_record_times
from . import topics_trim
from .common import (
    EXIT_SECURITY,
    BootstrapOpt,
    JsonOpt,
    ProfileOpt,
    TopicOpt,
    err_console,
    fail,
    load_settings,
    out_console,
    print_json,
)

__all__ = ["app"]

EXIT_DRIFT = 1
EXIT_USAGE = 2
EXIT_BROKER = 3

app = typer.Typer(
    name="topics",
    help="Topics as desired vs actual: ensure, list, describe, alter retention.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="Topic name.", show_default=False)]


@contextmanager
def _errors() -> Iterator[None]:
    """This package's errors as one line on stderr and the documented exit code."""
    try:
        yield
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    except SecurityError as exc:  # SASL or TLS: the message says what to check
        fail(str(exc), EXIT_SECURITY)
    except TopicError as exc:
        fail(str(exc), EXIT_DRIFT if exc.code == "UNKNOWN_TOPIC_OR_PART" else EXIT_BROKER)
    except HorizonsError as exc:  # unreachable, unsupported, refused
        fail(str(exc), EXIT_BROKER)


def _show_value(key: str, value: str | None) -> str:
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
            status = f"fixed (was {_show_value(key, drifted_before[key].actual)})"
        else:
            status = new
        rows.append((key, _show_value(key, desired), _show_value(key, value), status))
    return rows


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
    as_json: JsonOpt = False,
) -> None:
    """Create the topic as the profile says, or compare it with the profile (and --fix it).

    Exit 0 when every topic is in sync (already, created, or fixed), 1 when drift remains.
    """
    with _errors():
        settings = load_settings(bootstrap, topic, profile)
        spec = desired_topic(settings.profile, settings.topic)
        specs = [spec]
        if with_dlq:
            specs.append(dataclasses.replace(spec, name=dlq_topic_name(spec.name)))
        admin = TopicAdmin(settings)
        results = [admin.ensure(s, fix=fix) for s in specs]
    if as_json:
        print_json(
            [
                {
                    **msgspec.to_builtins(r),
                    "in_sync": r.in_sync,
                    "problems": r.after.problems(),
                }
                for r in results
            ]
        )
    else:
        for s, r in zip(specs, results, strict=True):
            _print_ensure(s, settings.profile, r, fix)
    if not all(r.in_sync for r in results):
        raise typer.Exit(EXIT_DRIFT)


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
    with _errors():
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
    with _errors():
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
        configs.add_row(key, _show_value(key, value))
    out_console.print(configs)


# -- alter -------------------------------------------------------------------------------

EXIT_UNCONFIRMED = 5
_UNLIMITED = {"-1", "infinite", "unlimited"}
_BARE = re.compile(r"^\s*\d+(\.\d+)?\s*$")


def _kafka_form(text: str, key: str, option: str) -> str | None:
    """The value of ``key=VALUE`` (Kafka's own form) in ``text``; None when not in that form."""
    name, sep, value = text.partition("=")
    if not sep:
        return None
    if name.strip() != key:
        raise ConfigError(f"{option}: {text!r}: expected {key}=VALUE or a value with a unit")
    value = value.strip()
    if not value.lstrip("-").isdigit():
        raise ConfigError(f"{option}: {text!r}: {key} takes a whole number (-1: unlimited)")
    return value


def _retention_ms(text: str) -> int:
    kafka = _kafka_form(text, "retention.ms", "--retention")
    if kafka is not None:
        return int(kafka)
    if text.strip().lower() in _UNLIMITED:
        return -1
    if _BARE.match(text):
        # Kafka counts milliseconds, people count days: a bare number is either.
        n = text.strip()
        as_ms = f"{n}ms" + (f", that is {format_duration_ms(float(n))}" if float(n) >= 1000 else "")
        raise ConfigError(
            f"--retention {n!r} has no unit: did you mean {n}d? for milliseconds write "
            f"{as_ms} (or retention.ms={n})"
        )
    return round(parse_duration(text, what="--retention") * 1000)


def _retention_bytes(text: str) -> int:
    kafka = _kafka_form(text, "retention.bytes", "--retention-bytes")
    if kafka is not None:
        return int(kafka)
    if text.strip().lower() in _UNLIMITED:
        return -1
    if _BARE.match(text):
        n = text.strip()
        as_bytes = f"{n}B" + (f", that is {format_bytes(float(n))}" if float(n) >= 1024 else "")
        raise ConfigError(
            f"--retention-bytes {n!r} has no unit: did you mean {n}GB? for bytes write "
            f"{as_bytes} (or retention.bytes={n})"
        )
    value = parse_size(text, what="--retention-bytes")
    if value <= 0:
        raise ConfigError(f"--retention-bytes: {text!r} must be greater than zero")
    return value


def _add_config(text: str) -> dict[str, str]:
    """kafka-configs.sh's ``--add-config retention.ms=N,retention.bytes=M``."""
    out: dict[str, str] = {}
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        key = item.partition("=")[0].strip()
        if key not in ("retention.ms", "retention.bytes"):
            raise ConfigError(
                f"--add-config: {item!r}: only retention.ms and retention.bytes can be set here"
            )
        value = _kafka_form(item, key, "--add-config")
        assert value is not None  # key=... was just split off
        out[key] = value
    if not out:
        raise ConfigError("--add-config: give retention.ms=N and/or retention.bytes=N")
    return out


def _as_int(value: str | None) -> int | None:
    try:
        return None if value is None else int(float(value))
    except ValueError:
        return None


def _lowered(new: int, before: int | None) -> bool:
    """Whether ``new`` is a tighter limit than ``before`` (None: not set, -1: unlimited)."""
    if new < 0:
        return False
    return before is None or before < 0 or new < before


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def _what_is_deleted(
    settings: KafkaSettings, state: TopicState, ms: int | None, size: int | None
) -> list[str]:
    """What the change deletes, one sentence each; empty when it deletes nothing we know of."""
    found: list[str] = []
    if ms is not None and _lowered(ms, _as_int(state.configs.get("retention.ms"))):
        oldest = oldest_record_times(settings, state.name, [p.id for p in state.partitions])
        now = int(time.time() * 1000)
        cutoff = now - ms
        older = {p: t for p, t in oldest.items() if t is not None and t < cutoff}
        unknown = sorted(p for p, t in oldest.items() if t is None)
        if older:
            first = min(older.values())
            found.append(
                f"retention.ms {format_duration_ms(ms)} is shorter than the age of the data: "
                f"records timed before {_when(cutoff)} will be deleted from partition(s) "
                f"{', '.join(map(str, sorted(older)))} (oldest record {_when(first)}, "
                f"{format_age_ms(now - first)} old)"
            )
        if unknown:
            found.append(
                f"the age of the data in partition(s) {', '.join(map(str, unknown))} is unknown "
                "(its first record could not be read): records older than "
                f"{format_duration_ms(ms)} there will be deleted"
            )
    if size is not None:
        before = _as_int(state.configs.get("retention.bytes"))
        if _lowered(size, before):
            was = "not set" if before is None else ("unlimited" if before < 0 else str(before))
            found.append(
                f"retention.bytes {size} ({format_bytes(size)}) is lower than before ({was}); "
                "the broker does not report the topic's size here (no DescribeLogDirs), so it "
                f"is unknown: the oldest segments beyond {format_bytes(size)} per partition "
                "will be deleted"
            )
    return found


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


@app.command()
def alter(
    name: NameArg,
    retention: Annotated[
        str | None,
        typer.Option(
            "--retention",
            help="retention.ms as a duration with a unit: 14d, 36h, 90m, 500ms; 'infinite'; "
            "or retention.ms=1209600000. A bare number is refused (days or milliseconds?).",
        ),
    ] = None,
    retention_bytes: Annotated[
        str | None,
        typer.Option(
            "--retention-bytes",
            help="retention.bytes per partition: 200GB (10^9), 100GiB (2^30), 512B, "
            "'unlimited', or retention.bytes=200000000000. A bare number is refused.",
        ),
    ] = None,
    add_config: Annotated[
        str | None,
        typer.Option(
            "--add-config",
            help="kafka-configs.sh's form: retention.ms=1209600000[,retention.bytes=N].",
            show_default=False,
        ),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Do not ask before a change that deletes data (for scripts)."
        ),
    ] = False,
    bootstrap: BootstrapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a topic's retention (incremental alter configs). Exit 1 if it does not exist.

    A change that deletes data (retention shorter than the age of the oldest record, a lower
    retention.bytes) says what goes and asks first; without a terminal it needs --yes
    (otherwise exit 5, nothing changed).
    """
    with _errors():
        if retention is None and retention_bytes is None and add_config is None:
            raise ConfigError("alter: give --retention and/or --retention-bytes (or --add-config)")
        ms = None if retention is None else _retention_ms(retention)
        size = None if retention_bytes is None else _retention_bytes(retention_bytes)
        if add_config is not None:
            kafka = _add_config(add_config)
            if ("retention.ms" in kafka and ms is not None) or (
                "retention.bytes" in kafka and size is not None
            ):
                raise ConfigError("alter: a setting is given twice (--add-config and --retention*)")
            ms = _as_int(kafka.get("retention.ms")) if "retention.ms" in kafka else ms
            size = _as_int(kafka.get("retention.bytes")) if "retention.bytes" in kafka else size
        for key, value in (("retention.ms", ms), ("retention.bytes", size)):
            if value is not None and (value < -1 or value == 0):
                raise ConfigError(f"{key}={value}: must be positive, or -1 for unlimited")
        settings = load_settings(bootstrap)
        admin = TopicAdmin(settings)
        state = admin.describe(name)  # no such topic: exit 1, before anything else
        deleted = _what_is_deleted(settings, state, ms, size)
        if deleted:
            for line in deleted:
                err_console.print(f"[yellow]warning:[/] {escape(name)}: {escape(line)}")
            if not yes:
                if not _interactive():
                    fail(
                        f"{name}: this change deletes data; refusing without --yes (no terminal "
                        "to ask); nothing was changed",
                        EXIT_UNCONFIRMED,
                    )
                if not typer.confirm(f"apply to {name} and delete that data?", err=True):
                    fail(f"{name}: not confirmed; nothing was changed", EXIT_UNCONFIRMED)
        changes = admin.alter_retention(name, ms, retention_bytes=size)
    if as_json:
        print_json({"topic": name, "changes": changes, "deletes": deleted})
        return
    for c in changes:
        out_console.print(
            f"{name}: {c.key} {_show_value(c.key, c.before)} -> {_show_value(c.key, c.after)}",
            soft_wrap=True,
        )


topics_trim.register(app)
