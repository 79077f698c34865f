"""Reading the archive back: ``archive ls``, ``archive verify``, ``archive replay``.

Registered onto the ``archive`` sub-app with :func:`register`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from typing import Annotated

import msgspec
import typer
from rich.markup import escape
from rich.table import Table

from .._units import format_bytes
from ..archiver.fileformat import ArchivedRecord
from ..archiver.reader import (
    FileInfo,
    ReadStats,
    TimeWindow,
    format_ms,
    iter_records,
    list_archive,
)
from ..archiver.replay import (
    ReplayReport,
    check_destination,
    replay_to_publisher,
    write_json_lines,
)
from ..archiver.storage import ArchiveStorage
from ..archiver.verify import VerifyReport, verify_archive
from ..browse import kafka_window
from ..clients import REPLAY_OVERRIDES
from ..publisher import Publisher
from ..topics.admin import TopicAdmin
from .common import (
    BootstrapOpt,
    EncodingOpt,
    JsonOpt,
    ProfileOpt,
    StorageOpt,
    err_console,
    fail,
    load_settings,
    out_console,
    print_json,
)
from .exits import Exit, stop_on_signals

__all__ = ["register"]

#: Replay promises record-time order per partition: an idempotent producer keeps it when a
#: batch is retried (without it a retried batch lands after the ones sent behind it, e.g.
#: when a new topic's leader is not ready for the first batch, as with Kafka).
REPLAY_PRODUCER: dict[str, str | int | float | bool] = dict(REPLAY_OVERRIDES)

TIME_HELP = (
    "ISO 8601 date (2026-11-27 = 00:00 UTC) or date-time (2026-11-27T12:00:00Z; no zone = UTC), "
    "or now / now-2h / -7d."
)
FromOpt = Annotated[
    str | None, typer.Option("--from", help="Records timed at or after this. " + TIME_HELP)
]
ToOpt = Annotated[str | None, typer.Option("--to", help="Records timed before this. " + TIME_HELP)]


# -- ls ----------------------------------------------------------------------------------


def ls(
    storage: StorageOpt = None,
    topic: Annotated[
        str | None, typer.Option("--topic", "-t", help="Only this topic (default: all).")
    ] = None,
    start: FromOpt = None,
    end: ToOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List archive files: partition, offset range, rows, size, date, record times; totals.

    Exit 1 when there are none (an empty or missing archive), 3 when the storage fails.
    """
    window = TimeWindow.parse(start, end)
    store = ArchiveStorage(storage)
    files = list_archive(store, topic=topic, window=window)
    totals = {
        "files": len(files),
        "rows": sum(f.rows for f in files),
        "offsets": sum(f.end_offset - f.start_offset + 1 for f in files),
        "size_bytes": sum(f.size_bytes for f in files),
        "first_record_ms": min(
            (f.first_record_ms for f in files if f.first_record_ms is not None), default=None
        ),
        "last_record_ms": max(
            (f.last_record_ms for f in files if f.last_record_ms is not None), default=None
        ),
    }
    if as_json:
        print_json({"storage": store.url, "window": window, "files": files, "totals": totals})
        if not files:
            raise typer.Exit(Exit.PROBLEM)
        return
    if not files:
        what = f" of topic {topic}" if topic else ""
        when = "" if window.is_open else " with records in that time window"
        fail(f"no archive files{what}{when} in {store.url}", Exit.PROBLEM)
    _ls_table(store, files, window)
    out_console.print(
        f"{totals['files']:,} files  {totals['rows']:,} rows  "
        f"{totals['offsets']:,} offsets  {format_bytes(int(totals['size_bytes'] or 0))}  "
        f"records {format_ms(totals['first_record_ms'])} .. {format_ms(totals['last_record_ms'])}"
    )


def _ls_table(store: ArchiveStorage, files: list[FileInfo], window: TimeWindow) -> None:
    where = store.url
    if not window.is_open:
        where += f"  records in [{format_ms(window.start_ms)}, {format_ms(window.end_ms)})"
    table = Table(title=f"archive {where}", title_justify="left")
    for name, justify in (
        ("topic", "left"),
        ("partition", "right"),
        ("offsets", "right"),
        ("rows", "right"),
        ("size", "right"),
        ("date", "left"),
        ("first record", "left"),
        ("last record", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for f in files:
        table.add_row(
            f.topic,
            str(f.partition),
            f"{f.start_offset}-{f.end_offset}",
            f"{f.rows:,}",
            format_bytes(f.size_bytes),
            f.date,
            format_ms(f.first_record_ms, millis=False),
            format_ms(f.last_record_ms, millis=False),
        )
    out_console.print(table)


# -- verify ------------------------------------------------------------------------------


def verify(
    storage: StorageOpt = None,
    topic: Annotated[
        str | None, typer.Option("--topic", "-t", help="Only this topic (default: all).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the archive against itself; exit 1 on any gap, overlap or bad file, or no files.

    Per partition, every offset between the first and last archived ones must be in one file.
    In each file, row offsets must lie in its range, sorted and unique.
    """
    store = ArchiveStorage(storage)
    report = verify_archive(store, topic=topic)
    if as_json:
        print_json(
            {
                "ok": report.ok,
                **msgspec.to_builtins(report),
                "gaps": report.gaps,
                "overlaps": report.overlaps,
            }
        )
    else:
        _verify_text(report, topic)
    if not report.ok or report.files == 0:  # nothing archived there is nothing verified
        raise typer.Exit(Exit.PROBLEM)


def _verify_text(report: VerifyReport, topic: str | None) -> None:
    if report.files == 0:
        what = f"topic {topic}" if topic else "any topic"
        err_console.print(
            f"[bold red]error:[/] no archive files of {what} in {escape(report.storage)}"
        )
        return
    table = Table(title=f"archive {report.storage}", title_justify="left")
    for name in ("topic", "partition", "files", "offsets", "gaps", "overlaps"):
        table.add_column(name, justify="left" if name == "topic" else "right")
    for p in report.partitions:
        table.add_row(
            p.topic,
            str(p.partition),
            str(p.files),
            f"{p.first_offset}-{p.last_offset}",
            str(len(p.gaps)) if p.gaps else "0",
            str(len(p.overlaps)) if p.overlaps else "0",
            style=None if p.ok else "red",
        )
    out_console.print(table)
    for g in report.gaps:
        out_console.print(
            f"[red]gap[/]      {g.topic} partition {g.partition}: offsets {g.first}-{g.last} "
            f"({g.count:,}) are in no file, between {g.after} and {g.before}",
            soft_wrap=True,
        )
    for o in report.overlaps:
        out_console.print(
            f"[red]overlap[/]  {o.topic} partition {o.partition}: offsets {o.first}-{o.last} "
            f"({o.count:,}) are in both {o.file_a} and {o.file_b}",
            soft_wrap=True,
        )
    for fp in report.file_problems:
        out_console.print(f"[red]{fp.kind}[/]  {fp.path}: {fp.detail}", soft_wrap=True)
    if report.ok:
        out_console.print(
            f"[green]ok[/]: {report.files:,} files, {report.rows:,} rows, no gaps, no overlaps, "
            "every file consistent"
        )
    else:
        problems = len(report.gaps) + len(report.overlaps) + len(report.file_problems)
        out_console.print(
            f"[bold red]{problems} problem(s)[/]: {len(report.gaps)} gap(s), "
            f"{len(report.overlaps)} overlap(s), {len(report.file_problems)} bad file(s) "
            f"in {report.files:,} files"
        )


# -- replay ------------------------------------------------------------------------------


def replay(
    start: Annotated[
        str, typer.Option("--from", help="Records timed at or after this. " + TIME_HELP)
    ],
    end: Annotated[str, typer.Option("--to", help="Records timed before this. " + TIME_HELP)],
    topic: Annotated[
        str | None,
        typer.Option(
            "--topic",
            "-t",
            help="Destination topic (default: the source topic, see --into-source).",
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="Archived topic to read (default: HORIZONS_TOPIC, else element.raw_data).",
        ),
    ] = None,
    to_stdout: Annotated[
        bool, typer.Option("--to-stdout", help="Print packets as JSON lines instead of producing.")
    ] = False,
    into_source: Annotated[
        bool,
        typer.Option(
            "--into-source",
            help="Allow replaying into the source topic (the archiver would archive them again).",
        ),
    ] = False,
    elements: Annotated[
        list[str] | None,
        typer.Option("--element", "-e", help="Only this element id (repeat for several)."),
    ] = None,
    rate: Annotated[
        float | None, typer.Option("--rate", help="At most this many packets per second.")
    ] = None,
    from_kafka: Annotated[
        bool,
        typer.Option(
            "--from-kafka",
            help="Read the window from the source topic in Kafka (ListOffsets by timestamp) "
            "instead of the archive: what retention still holds replays without the archive.",
        ),
    ] = False,
    encoding: EncodingOpt = None,
    storage: StorageOpt = None,
    bootstrap: BootstrapOpt = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Republish archived packets timed in [--from, --to), in order, or print them.

    Written as JSON, or in the binary form with --encoding binary (the archive keeps the
    packet, not the form it came in).

    Per partition in offset order; across partitions by record timestamp. With --from-kafka
    the window is read from the source topic itself (invalid records there are skipped).
    Each record keeps its key and timestamp, plus a replay.source header.
    Exit 1 when any packet was not delivered (or Ctrl-C/SIGTERM stopped it early), 6 when the
    destination topic does not exist.
    """
    window = TimeWindow.parse(start, end)
    settings = load_settings(bootstrap, source, profile).with_overrides(encoding=encoding)
    source_topic = settings.topic
    destination = topic or source_topic
    if not to_stdout:
        check_destination(source_topic, destination, into_source=into_source)
    if not to_stdout and not TopicAdmin(settings).exists(destination):
        fail(
            f"destination topic {destination!r} does not exist at "
            f"{settings.require_bootstrap()}; create it first, then replay",
            Exit.TOPIC_MISSING,
        )
    stop = threading.Event()
    stats = ReadStats()
    records: Iterable[ArchivedRecord]
    if from_kafka:
        records = kafka_window(settings, source_topic, window, elements=elements or (), stop=stop)
    else:
        store = ArchiveStorage(storage)
        records = iter_records(store, source_topic, window, elements=elements or (), stats=stats)
    if to_stdout:
        out = sys.stdout.buffer
        try:
            with stop_on_signals(stop):
                report = write_json_lines(records, out.write, rate=rate, stop=stop)
            out.flush()
        except BrokenPipeError:
            raise typer.Exit(Exit.OK) from None
    else:
        publisher = Publisher(settings, topic=destination, extra_config=REPLAY_PRODUCER)
        try:
            with stop_on_signals(stop):
                report = replay_to_publisher(
                    records,
                    publisher,
                    into_source=into_source,
                    rate=rate,
                    stop=stop,
                    on_progress=lambda r: err_console.print(f"replayed {r.read:,} ..."),
                )
        finally:
            publisher.close(timeout=30)
    _replay_summary(
        report, stats, source_topic, window, as_json=as_json and not to_stdout, kafka=from_kafka
    )
    if report.interrupted or not report.complete:  # stopped early: not all of the window
        raise typer.Exit(Exit.PROBLEM)


def _replay_summary(
    report: ReplayReport,
    stats: ReadStats,
    source: str,
    window: TimeWindow,
    *,
    as_json: bool,
    kafka: bool = False,
) -> None:
    summary = {
        "source": source,
        "read_from": "kafka" if kafka else "archive",
        "destination": report.destination,
        "from_ms": window.start_ms,
        "to_ms": window.end_ms,
        "files_read": stats.files,
        "matched": report.read,
        "sent": report.sent,
        "delivered": report.delivered,
        "failed": report.failed,
        "duplicates_skipped": stats.duplicates,
        "interrupted": report.interrupted,
        "error": report.error,
        "complete": report.complete,
    }
    if as_json:
        print_json(summary)
        return
    line = (
        f"replay {source} [{format_ms(window.start_ms)}, {format_ms(window.end_ms)}) -> "
        f"{report.destination}: {report.read:,} packets from "
        + ("Kafka, " if kafka else f"{stats.files:,} files, ")
        + f"{report.delivered:,} delivered, {report.failed:,} failed"
    )
    if stats.duplicates:
        line += f", {stats.duplicates:,} duplicate offsets skipped (run `archive verify`)"
    if report.interrupted:
        line += " (interrupted)"
    if report.error:
        line += f"; stopped early: {report.error}"
    style = "green" if report.complete else "bold red"
    err_console.print(f"[{style}]{line}[/]", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``ls``, ``verify`` and ``replay`` to the ``archive`` sub-app."""
    app.command("ls")(ls)
    app.command("verify")(verify)
    app.command("replay")(replay)
