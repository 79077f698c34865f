"""``horizons topics usage [NAME]``: bytes per partition, replica, broker and log dir.

The spec's ``du -sh /var/lib/kafka/data``, from the brokers themselves (DescribeLogDirs).
Registered onto the ``topics`` sub-app with :func:`register`.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from .._units import format_bytes
from ..errors import UnsupportedByBrokerError
from ..topics.usage import DiskUsage, describe_log_dirs
from .common import BootstrapOpt, JsonOpt, fail, load_settings, out_console, print_json
from .exits import Exit

__all__ = ["register", "usage_json"]


def usage_json(usage: DiskUsage) -> dict[str, object]:
    """The JSON document of ``topics usage``."""
    return {
        "total_bytes": usage.total_bytes,
        "by_broker": {str(b): n for b, n in usage.by_broker().items()},
        "by_topic": usage.by_topic(),
        "partitions": [
            {"topic": t, "partition": p, "bytes": n}
            for (t, p), n in usage.partition_bytes().items()
        ],
        "replicas": [
            {
                "topic": r.topic,
                "partition": r.partition,
                "broker": r.broker,
                "log_dir": r.log_dir,
                "bytes": r.size_bytes,
                "offset_lag": r.offset_lag,
                "future": r.is_future,
            }
            for r in usage.replicas
        ],
        "log_dirs": [
            {
                "broker": d.broker,
                "log_dir": d.log_dir,
                "error": d.error,
                "total_bytes": d.total_bytes,
                "usable_bytes": d.usable_bytes,
            }
            for d in usage.log_dirs
        ],
    }


def _print(usage: DiskUsage, name: str | None) -> None:
    table = Table(title=f"disk usage of {name or 'every topic'}", title_justify="left")
    for column in ("topic", "partition", "broker", "log dir", "bytes", "size"):
        table.add_column(column, justify="right" if column in ("partition", "bytes") else "left")
    for r in usage.replicas:
        table.add_row(
            r.topic,
            str(r.partition),
            str(r.broker) + (" (future)" if r.is_future else ""),
            r.log_dir,
            str(r.size_bytes),
            format_bytes(r.size_bytes),
        )
    out_console.print(table)
    for d in usage.log_dirs:
        capacity = ""
        if d.total_bytes is not None and d.usable_bytes is not None:
            capacity = f", {format_bytes(d.usable_bytes)} free of {format_bytes(d.total_bytes)}"
        error = f"  [red]{d.error}[/]" if d.error else ""
        out_console.print(f"broker {d.broker} {d.log_dir}{capacity}{error}", soft_wrap=True)
    per_broker = ", ".join(f"{b}: {format_bytes(n)}" for b, n in usage.by_broker().items())
    out_console.print(
        f"total {format_bytes(usage.total_bytes)} ({usage.total_bytes} bytes) over "
        f"{len(usage.replicas)} replica(s); per broker {per_broker or '-'}",
        soft_wrap=True,
    )


def usage(
    name: Annotated[
        str | None, typer.Argument(help="Topic (default: every topic).", show_default=False)
    ] = None,
    bootstrap: BootstrapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bytes on disk per partition, replica, broker and log dir (DescribeLogDirs).

    Exit 1 when NAME does not exist, 3 when the broker does not support DescribeLogDirs.
    """
    settings = load_settings(bootstrap)
    try:
        found = describe_log_dirs(settings, [name] if name else None)
    except UnsupportedByBrokerError as exc:
        fail(
            f"disk usage not supported: the broker does not implement DescribeLogDirs "
            f"({exc.answer}); read its data directory instead",
            Exit.UNREACHABLE,
        )
    if as_json:
        print_json(usage_json(found))
    else:
        _print(found, name)


def register(app: typer.Typer) -> None:
    """Add ``usage`` to the ``topics`` sub-app."""
    app.command("usage")(usage)
