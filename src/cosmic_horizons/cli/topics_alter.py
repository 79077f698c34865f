"""``horizons topics alter NAME``: change a topic's retention, asking before it deletes data.

Registered onto the ``topics`` sub-app with :func:`register` (in :mod:`.main`).
"""

from __future__ import annotations

import re
import sys
import time
from typing import Annotated

import typer
from rich.markup import escape

from .._units import format_age_ms, format_bytes, format_duration_ms, parse_duration, parse_size
from ..config import KafkaSettings
from ..errors import ConfigError
from ..topics import TopicAdmin, TopicState
from ..topics.ages import oldest_record_times
from .common import BootstrapOpt, JsonOpt, err_console, fail, load_settings, out_console, print_json
from .exits import Exit
from .topics import NameArg, show_value

__all__ = ["alter", "register"]

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
                    Exit.REFUSED,
                )
            if not typer.confirm(f"apply to {name} and delete that data?", err=True):
                fail(f"{name}: not confirmed; nothing was changed", Exit.REFUSED)
    changes = admin.alter_retention(name, ms, retention_bytes=size)
    if as_json:
        print_json({"topic": name, "changes": changes, "deletes": deleted})
        return
    for c in changes:
        out_console.print(
            f"{name}: {c.key} {show_value(c.key, c.before)} -> {show_value(c.key, c.after)}",
            soft_wrap=True,
        )


def register(app: typer.Typer) -> None:
    """Add ``alter`` to the ``topics`` sub-app."""
    app.command("alter")(alter)
