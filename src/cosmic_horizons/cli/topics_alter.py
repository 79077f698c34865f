"""``horizons topics alter NAME``: change any topic config, asking before it deletes data.

Registered onto the ``topics`` sub-app with :func:`register` (in :mod:`.main`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.markup import escape

from .._units import format_age_ms, format_bytes, format_duration_ms, parse_duration, parse_size
from ..config import KafkaSettings
from ..errors import AuthorizationError, ConfigError, TopicError, UnsupportedByBrokerError
from ..topics import ConfigChange, TopicAdmin, TopicState
from ..topics.ages import oldest_record_times
from ..topics.usage import describe_log_dirs
from .common import BootstrapOpt, JsonOpt, err_console, load_settings, out_console, print_json
from .confirm import confirm_or_refuse
from .topics import NameArg, show_value

__all__ = ["alter", "register"]

_UNLIMITED = {"-1", "infinite", "unlimited"}
_BARE = re.compile(r"^\s*\d+(\.\d+)?\s*$")


@dataclass(frozen=True)
class _Limit:
    """A retention limit given with a unit: its option, parser and bare-number hint."""

    key: str
    option: str
    parse: Callable[[str], int]
    show: Callable[[float], str]
    suggest: str  # the unit a bare number most likely meant
    base: str  # the unit Kafka counts in
    step: float  # a bare number from this size is shown in a readable unit too


_LIMITS = {
    "retention.ms": _Limit(
        "retention.ms",
        "--retention",
        lambda t: round(parse_duration(t, what="--retention") * 1000),
        format_duration_ms,
        "d",
        "ms",
        1000,
    ),
    "retention.bytes": _Limit(
        "retention.bytes",
        "--retention-bytes",
        lambda t: parse_size(t, what="--retention-bytes"),
        format_bytes,
        "GB",
        "B",
        1024,
    ),
}


def _limit_for(key: str) -> _Limit | None:
    """How a value with a unit is read for ``key``: a retention option, or any ``*.ms`` or
    ``*.bytes`` config (segment.ms=7d, max.message.bytes=2MiB)."""
    known = _LIMITS.get(key)
    if known is not None:
        return known
    for suffix, kind in ((".ms", "retention.ms"), (".bytes", "retention.bytes")):
        if key.endswith(suffix):
            base = _LIMITS[kind]
            return _Limit(
                key, "--config", base.parse, base.show, base.suggest, base.base, base.step
            )
    return None


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


def _parse_limit(limit: _Limit, text: str) -> int:
    """``text`` of ``limit.option``: a value with a unit, unlimited, or Kafka's key=N form."""
    kafka = _kafka_form(text, limit.key, limit.option)
    if kafka is not None:
        return int(kafka)
    if text.strip().lower() in _UNLIMITED:
        return -1
    if _BARE.match(text):
        # Kafka counts milliseconds and bytes, people count days and gigabytes.
        n = text.strip()
        readable = f", that is {limit.show(float(n))}" if float(n) >= limit.step else ""
        raise ConfigError(
            f"{limit.option} {n!r} has no unit: did you mean {n}{limit.suggest}? for "
            f"{'milliseconds' if limit.base == 'ms' else 'bytes'} write "
            f"{n}{limit.base}{readable} (or {limit.key}={n})"
        )
    value = limit.parse(text)
    if value <= 0:
        raise ConfigError(f"{limit.option}: {text!r} must be greater than zero")
    return value


def _config_items(texts: list[str], option: str) -> dict[str, str]:
    """``key=value`` items (comma-separated or repeated): Kafka's names, the broker checks."""
    out: dict[str, str] = {}
    for item in (i.strip() for t in texts for i in t.split(",")):
        if not item:
            continue
        key, sep, value = (s.strip() for s in item.partition("="))
        if not sep or not key:
            raise ConfigError(f"{option}: {item!r}: expected key=value (retention.ms=86400000)")
        limit = _limit_for(key)
        if limit is not None and not value.lstrip("-").isdigit():
            value = str(_parse_limit(limit, value))  # 7d, 200GB: a unit is accepted here too
        if key in out:
            raise ConfigError(f"{option}: {key} is given twice")
        out[key] = value
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


def _deleted_by_age(settings: KafkaSettings, state: TopicState, ms: int) -> list[str]:
    oldest = oldest_record_times(settings, state.name, [p.id for p in state.partitions])
    now = int(time.time() * 1000)
    cutoff = now - ms
    older = {p: t for p, t in oldest.items() if t is not None and t < cutoff}
    unknown = sorted(p for p, t in oldest.items() if t is None)
    found: list[str] = []
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
    return found


def _deleted_by_size(
    settings: KafkaSettings, name: str, size: int, before: int | None
) -> list[str]:
    """What a lower retention.bytes deletes: each partition's bytes beyond ``size`` (from
    DescribeLogDirs); without that API (or the right to call it), that the size is unknown."""
    try:
        per_partition = describe_log_dirs(settings, [name]).partition_bytes()
    except (UnsupportedByBrokerError, AuthorizationError, ConfigError) as exc:
        why = (
            "the broker does not implement DescribeLogDirs"
            if isinstance(exc, UnsupportedByBrokerError)
            else str(exc)
        )
        was = "not set" if before is None else ("unlimited" if before < 0 else str(before))
        return [
            f"retention.bytes {size} ({format_bytes(size)}) is lower than before ({was}); the "
            f"topic's size is unknown ({why}): the oldest segments beyond {format_bytes(size)} "
            "per partition will be deleted"
        ]
    over = {p: n for (_, p), n in per_partition.items() if n > size}
    if not over:
        return []
    goes = sum(n - size for n in over.values())
    sizes = ", ".join(f"{p} ({format_bytes(n)})" for p, n in sorted(over.items()))
    return [
        f"retention.bytes {size} ({format_bytes(size)}) is below the size of partition(s) "
        f"{sizes}: up to {goes} bytes ({format_bytes(goes)}) of their oldest records will be "
        "deleted (whole segments; the segment being written stays)"
    ]


def _what_is_deleted(
    settings: KafkaSettings, state: TopicState, changes: dict[str, str]
) -> list[str]:
    """What the change deletes, one sentence each; empty when it deletes nothing we know of."""
    found: list[str] = []
    ms = _as_int(changes.get("retention.ms"))
    if ms is not None and _lowered(ms, _as_int(state.configs.get("retention.ms"))):
        found.extend(_deleted_by_age(settings, state, ms))
    size = _as_int(changes.get("retention.bytes"))
    before = _as_int(state.configs.get("retention.bytes"))
    if size is not None and _lowered(size, before):
        found.extend(_deleted_by_size(settings, state.name, size, before))
    return found


def _changes(
    retention: str | None, retention_bytes: str | None, configs: list[str], add_config: str | None
) -> dict[str, str]:
    """Every requested change as Kafka's key and value; a key given twice is an error."""
    changes = _config_items(configs, "--config")
    if add_config is not None:
        extra = _config_items([add_config], "--add-config")
        for key in extra.keys() & changes.keys():
            raise ConfigError(f"alter: {key} is given twice (--config and --add-config)")
        changes.update(extra)
    for limit, text in (
        (_LIMITS["retention.ms"], retention),
        (_LIMITS["retention.bytes"], retention_bytes),
    ):
        if text is None:
            continue
        if limit.key in changes:
            raise ConfigError(f"alter: {limit.key} is given twice ({limit.option} and --config)")
        changes[limit.key] = str(_parse_limit(limit, text))
    if not changes:
        raise ConfigError("alter: give --config key=value (or --retention/--retention-bytes)")
    for key in _LIMITS:
        value = _as_int(changes.get(key))
        if value is not None and (value < -1 or value == 0):
            raise ConfigError(f"{key}={value}: must be positive, or -1 for unlimited")
    return changes


def _apply(admin: TopicAdmin, name: str, changes: dict[str, str]) -> list[ConfigChange]:
    """Apply ``changes`` in one request (the broker applies all or none of them); a key or
    value the broker refuses is a usage error (exit 2), nothing changed."""
    try:
        return admin.alter_configs(name, changes)
    except (UnsupportedByBrokerError, TopicError) as exc:
        if isinstance(exc, TopicError) and exc.code not in ("INVALID_CONFIG", "INVALID_REQUEST"):
            raise
        if isinstance(exc, UnsupportedByBrokerError) and "INVALID_REQUEST" not in exc.answer:
            raise
        raise ConfigError(f"{name}: the broker refused the change: {exc}") from exc


def alter(
    name: NameArg,
    config: Annotated[
        list[str] | None,
        typer.Option(
            "--config",
            "-c",
            help="key=value of any topic config the broker accepts (repeat, or separate "
            "with commas); retention.ms and retention.bytes also take units (7d, 200GB).",
            show_default=False,
        ),
    ] = None,
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
            help="kafka-configs.sh's form: key=value[,key=value] (as --config).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Show old and new values and what would be deleted; change nothing.",
        ),
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Do not ask before a change that deletes data (for scripts)."
        ),
    ] = False,
    bootstrap: BootstrapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change topic configs (incremental alter configs); old and new values are shown.

    The broker applies all the changes or none (a refused key or value: exit 2). A
    change that deletes data (retention shorter than the age of the oldest record,
    retention.bytes below a partition's size, or lower where the broker does not report sizes)
    says what goes and asks first; without a terminal it needs --yes
    (otherwise exit 5, nothing changed). Exit 1 if the topic does not exist.
    """
    changes = _changes(retention, retention_bytes, config or [], add_config)
    settings = load_settings(bootstrap)
    admin = TopicAdmin(settings)
    state = admin.describe(name)  # no such topic: exit 1, before anything else
    deleted = _what_is_deleted(settings, state, changes)
    for line in deleted:
        err_console.print(f"[yellow]warning:[/] {escape(name)}: {escape(line)}")
    if dry_run:
        _report(
            name,
            [(k, state.configs.get(k), v) for k, v in changes.items()],
            deleted,
            as_json=as_json,
            dry_run=True,
        )
        return
    if deleted:
        confirm_or_refuse(
            f"{name}: this change deletes data", f"apply to {name} and delete that data?", yes=yes
        )
    done = _apply(admin, name, changes)
    _report(
        name, [(c.key, c.before, c.after) for c in done], deleted, as_json=as_json, dry_run=False
    )


def _report(
    name: str,
    rows: list[tuple[str, str | None, str | None]],
    deleted: list[str],
    *,
    as_json: bool,
    dry_run: bool,
) -> None:
    if as_json:
        print_json(
            {
                "topic": name,
                "dry_run": dry_run,
                "changes": [{"key": k, "before": b, "after": a} for k, b, a in rows],
                "deletes": deleted,
            }
        )
        return
    for key, before, after in rows:
        out_console.print(
            f"{name}: {key} {show_value(key, before)} -> {show_value(key, after)}"
            + (" (dry run)" if dry_run else ""),
            soft_wrap=True,
        )
    if dry_run:
        err_console.print("dry run: nothing was changed")


def register(app: typer.Typer) -> None:
    """Add ``alter`` to the ``topics`` sub-app."""
    app.command("alter")(alter)
