"""``horizons archive``: the archiver (``run``); the readers (:mod:`.archive_read`) are
registered on the same app in :mod:`.main`."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Annotated, Final, get_args

import msgspec
import typer
from confluent_kafka import KafkaException
from rich.text import Text

from .._units import format_bytes, parse_duration, parse_size
from ..archiver.archiver import DEFAULT_GROUP, Archiver, Checkpoint
from ..archiver.ranges import RollPolicy
from ..archiver.stats import ArchiverStats, PartitionStats
from ..archiver.storage import ArchiveStorage, default_archive_url
from ..archiver.workers import MAX_WORKERS, default_workers
from ..broker import is_embedded_cluster_id
from ..cluster import check_broker
from ..config import KafkaSettings
from ..errors import ConfigError, HorizonsError
from ..monitor import Monitor
from .common import (
    BootstrapOpt,
    JsonOpt,
    ProfileOpt,
    StorageOpt,
    TopicOpt,
    err_console,
    load_settings,
    print_json,
)
from .exits import stop_on_signals
from .live import (
    DEFAULT_STATUS_INTERVAL,
    StatusIntervalOpt,
    parse_status_interval,
    periodic_status,
)

__all__ = [
    "CRASH_HOOK_ENV",
    "app",
    "archiver_line",
    "crash_hook",
    "default_run_storage",
    "lag_at_stop",
]

log = logging.getLogger(__name__)

#: Test hook: ``dlq``, ``write`` or ``commit``, optionally ``:N`` (default 1): the process
#: SIGKILLs itself right after the N-th range's dead letters were flushed / file was stored /
#: offset was committed. Used by the crash-safety tests; never set it in production.
CRASH_HOOK_ENV: Final = "HORIZONS_ARCHIVER_CRASH_AFTER"

app = typer.Typer(
    name="archive",
    help="The Parquet archive of the topic: write it (run), read it back.",
    no_args_is_help=True,
)


def archiver_line(s: ArchiverStats) -> Text:
    """``rows 12,000  files 3  4.2 MiB  dead letters 1  8,000 rows/s  lag 120``."""
    text = Text()
    text.append(f"rows {s.rows:,}  ", style="green")
    text.append(f"files {s.files:,}  ")
    text.append(f"{format_bytes(s.bytes)}  ")
    text.append(
        f"dead letters {s.dead_letters:,}  ", style="bold yellow" if s.dead_letters else "dim"
    )
    if s.lost_offsets:
        text.append(f"lost to retention {s.lost_offsets:,}  ", style="bold red")
    text.append(f"{s.rate:,.0f} rows/s", style="bold")
    buffered = sum(p.buffered for p in s.partitions)
    text.append(f"  buffered {buffered:,}", style="dim")
    if s.lag is not None:
        text.append(f"  lag {s.lag:,}")
    text.append(f"  {s.uptime_s:,.0f} s", style="dim")
    if s.last_error:
        text.append(f"  last error: {s.last_error}", style="yellow")
    return text


@app.command("run")
def run(
    storage: StorageOpt = None,
    group: Annotated[str, typer.Option("--group", "-g", help="Consumer group.")] = DEFAULT_GROUP,
    max_records: Annotated[
        int, typer.Option("--max-records", help="Offsets per file (dead letters included).")
    ] = 10_000,
    max_bytes: Annotated[
        str, typer.Option("--max-bytes", help="Kafka key+value bytes per file (64MiB, 1GB).")
    ] = "64MiB",
    span: Annotated[
        str, typer.Option("--span", help="Record-time span of one file (10m, 1h).")
    ] = "1h",
    flush_at_end: Annotated[
        bool,
        typer.Option(
            "--flush-at-end",
            help="Also close a partition's file when the end of the partition is reached "
            "(batch runs; by default files close only on records, bytes or record time).",
        ),
    ] = False,
    stop_at_end: Annotated[
        bool,
        typer.Option(
            "--stop-at-end", help="Exit once every assigned partition is read and stored."
        ),
    ] = False,
    session_timeout: Annotated[
        str, typer.Option("--session-timeout", help="Consumer group session timeout.")
    ] = "10s",
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Processes that decode and encode files while the consumer reads on "
            f"(0: all in this process; default: one per usable CPU beyond the first, at most "
            f"2; up to {MAX_WORKERS}).",
            min=0,
            max=MAX_WORKERS,
            show_default=False,
        ),
    ] = None,
    serve_port: Annotated[
        int | None,
        typer.Option(
            "--serve",
            help="Also serve the monitoring API and dashboard on this port (0: a free one), "
            "with the archiver's stats under /api/messaging/stats.",
            show_default=False,
        ),
    ] = None,
    serve_host: Annotated[
        str, typer.Option("--serve-host", help="Address the API listens on.")
    ] = "127.0.0.1",
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure", help="Serve a non-loopback --serve-host without HORIZONS_API_TOKEN."
        ),
    ] = False,
    status_interval: StatusIntervalOpt = DEFAULT_STATUS_INTERVAL,
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Archive the topic into Parquet files, exactly once; Ctrl-C/SIGTERM stop cleanly."""
    settings = load_settings(bootstrap, topic, profile)
    status_s = parse_status_interval(status_interval)
    if serve_port is not None:  # refused before the archiver joins its group
        from ..api.guard import require_safe_exposure, token_from_env

        require_safe_exposure(serve_host, token_from_env(), insecure)
    roll = RollPolicy(
        max_records=max_records,
        max_bytes=parse_size(max_bytes, what="--max-bytes"),
        max_record_span_s=parse_duration(span, what="--span"),
    )
    session_ms = int(parse_duration(session_timeout, what="--session-timeout") * 1000)
    run_note = None
    if storage is None:
        storage, run_note = default_run_storage(settings)
    store = ArchiveStorage(storage)
    archiver = Archiver(
        settings,
        store,
        group=group,
        roll=roll,
        flush_at_end=flush_at_end or stop_at_end,
        stop_at_end=stop_at_end,
        session_timeout_ms=session_ms,
        heartbeat_interval_ms=max(100, min(3000, session_ms // 10)),
        workers=default_workers() if workers is None else workers,
        checkpoint=crash_hook(os.environ.get(CRASH_HOOK_ENV)),
    )
    with stop_on_signals() as stop:
        _run(
            settings,
            archiver,
            store,
            stop,
            group,
            run_note,
            (serve_host, serve_port, insecure),
            status_s,
            as_json,
        )


def _run(
    settings: KafkaSettings,
    archiver: Archiver,
    store: ArchiveStorage,
    stop: threading.Event,
    group: str,
    run_note: str | None,
    serve: tuple[str, int | None, bool],
    status_s: float,
    as_json: bool,
) -> None:
    err_console.print(
        f"archiving {settings.topic} on {settings.bootstrap_servers} into {store.url} "
        f"(group {group}; dead letters to {archiver.dlq_topic}; "
        f"{_workers_phrase(archiver.workers)}); Ctrl-C stops"
    )
    if run_note:
        err_console.print(run_note)
    api = None
    serve_host, serve_port, insecure = serve
    if serve_port is not None:
        from ..api import start_api

        api = start_api(
            settings,
            host=serve_host,
            port=serve_port,
            extra_stats={"archiver": archiver.stats},
            insecure=insecure,
        )
        err_console.print(
            f"API and dashboard at [bold]{api.url}/[/] "
            f"(archiver stats: {api.url}/api/messaging/stats)"
        )
    try:
        stats = _run_with_progress(archiver, stop, status_s)
    finally:
        if api is not None:
            api.close()
    stats = lag_at_stop(settings, stats)
    lag_text = "unknown" if stats.lag is None else f"{stats.lag:,}"
    err_console.print(
        f"stopped: {stats.rows:,} rows in {stats.files:,} files ({format_bytes(stats.bytes)}), "
        f"{stats.dead_letters:,} dead letters, lag {lag_text} at stop; "
        "nothing unstored was committed"
    )
    if stats.lost_offsets:
        err_console.print(
            f"[bold red]{stats.lost_offsets:,} offsets were deleted by retention before they "
            "were archived[/] (see the warnings; `horizons archive verify` shows the gaps)"
        )
    if as_json:
        print_json(stats)


def lag_at_stop(settings: KafkaSettings, stats: ArchiverStats) -> ArchiverStats:
    """``stats`` with the lag measured now, after the stop: the partitions' end offsets, read
    fresh, minus the group's committed offsets (the archived ones + 1).

    The live figure is refreshed about once a second while records arrive, so the run's last one
    can be more than a thousand records old although everything was archived. A partition whose
    lag cannot be read now is unknown (null), and so is the total.
    """
    try:
        with Monitor(settings, timeout=5.0) as mon:
            groups = mon.lag(stats.group)
    except (HorizonsError, KafkaException) as exc:
        err_console.print(f"[yellow]lag at stop unknown: {exc}[/]")
        groups = []
    rows = {p.partition: p for g in groups for p in g.partitions if p.topic == stats.topic}
    parts: list[PartitionStats] = []
    for p in stats.partitions:
        row = rows.get(p.partition)
        lag: int | None = None
        if row is not None and row.lag is not None:
            lag = row.lag
        elif row is not None and row.high_watermark is not None:
            done = 0 if p.last_archived_offset is None else p.last_archived_offset + 1
            lag = max(0, row.high_watermark - done)
        parts.append(msgspec.structs.replace(p, lag=lag))
    lags = [p.lag for p in parts if p.lag is not None]
    total = sum(lags) if parts and len(lags) == len(parts) else None
    return msgspec.structs.replace(stats, partitions=parts, lag=total)


def crash_hook(
    spec: str | None, kill: Callable[[], None] | None = None
) -> Callable[[Checkpoint], None] | None:
    """The archiver checkpoint that :data:`CRASH_HOOK_ENV` (``point[:N]``) asks for: SIGKILL
    this process (or call ``kill``) at the N-th time ``point`` is reached. None: no hook."""
    if not spec:
        return None
    points: tuple[str, ...] = get_args(Checkpoint)
    point, _, count = spec.partition(":")
    if point not in points or (count and not count.isdigit()):
        raise ConfigError(
            f"{CRASH_HOOK_ENV}={spec!r}: expected one of {', '.join(points)}, "
            "optionally followed by :N"
        )
    remaining = int(count or 1)

    def reached(at: Checkpoint) -> None:
        nonlocal remaining
        if at != point:
            return
        remaining -= 1
        if remaining <= 0:
            log.critical("%s=%s: killing this process (test hook)", CRASH_HOOK_ENV, point)
            (kill or _kill_self)()

    return reached


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _workers_phrase(n: int) -> str:
    if n == 0:
        return "encoding in this process"
    return f"{n} encoder process{'es' if n > 1 else ''}"


def default_run_storage(
    settings: KafkaSettings, env: dict[str, str] | None = None
) -> tuple[str | None, str | None]:
    """Where ``archive run`` writes without --storage, and a note saying why, if it is not
    the plain default.

    The embedded broker keeps its topics in memory: each start is a new incarnation of
    every topic, with offsets from 0 again. The default location would then hold the
    previous run's files and refuse to continue (see :mod:`..archiver.identity`). When the
    broker reports an embedded broker's cluster id (generated per start, see
    :func:`..broker.new_embedded_cluster_id`) and neither --storage nor HORIZONS_ARCHIVE_URL
    names a location, each run of the broker gets its own folder,
    ``<default>/embedded/<cluster id>``. Any other broker, and any location given
    explicitly, keeps the strict incarnation check.
    """
    e = dict(os.environ) if env is None else env
    if e.get("HORIZONS_ARCHIVE_URL", "").strip() or settings.bootstrap_servers is None:
        return None, None
    answer = check_broker(settings, timeout=5.0)
    if not (answer.reachable and is_embedded_cluster_id(answer.cluster_id)):
        return None, None
    url = f"{default_archive_url(e).rstrip('/')}/embedded/{answer.cluster_id}"
    return url, (
        f"the broker is the in-memory embedded one (cluster id {answer.cluster_id}): this run "
        f"of it is archived apart, in {url} (readers: --storage {url})"
    )


def _run_with_progress(
    archiver: Archiver, stop: threading.Event, status_interval: float
) -> ArchiverStats:
    if not err_console.is_terminal:
        with periodic_status(lambda: archiver_line(archiver.stats()), status_interval, err_console):
            return archiver.run(stop)
    from rich.live import Live

    with Live(
        get_renderable=lambda: archiver_line(archiver.stats()),
        console=err_console,
        refresh_per_second=4,
        transient=False,
    ):
        return archiver.run(stop)
