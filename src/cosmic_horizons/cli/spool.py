"""The spool: the options that give ``simulate`` and ``up`` one, and ``horizons spool
status|inspect|drain`` for operators."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import msgspec
import typer

from .._units import format_bytes, parse_duration, parse_size
from ..cluster import raise_if_refused
from ..publisher import Publisher
from ..spool import SpoolSettings
from ..spool.inspect import SpoolSummary, summarize
from .common import BootstrapOpt, JsonOpt, TopicOpt, err_console, load_settings, print_json
from .exits import Exit, stop_on_signals

__all__ = ["app", "spool_settings"]

app = typer.Typer(
    name="spool",
    help="The publisher's store-and-forward spool: status, inspect, drain.",
    no_args_is_help=True,
)

SpoolDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--spool",
        envvar="HORIZONS_SPOOL",
        help="Spool directory: packets that cannot be delivered wait there, in order, "
        "and survive a crash (store and forward). Off when not given.",
        show_default=False,
    ),
]
SpoolMaxOpt = Annotated[
    str, typer.Option("--spool-max", help="Bound on the spool's size on disk (10GiB, 500MB).")
]
SpoolPolicyOpt = Annotated[
    str,
    typer.Option(
        "--spool-policy",
        help="When the spool is full: block (publishing waits) or drop-oldest (counted, loud).",
    ),
]
DrainRateOpt = Annotated[
    float,
    typer.Option("--drain-rate", help="Packets per second sent from the spool (0: no limit)."),
]
FsyncEveryOpt = Annotated[
    int, typer.Option("--fsync-every", help="fsync the spool every N packets (0: never).")
]
FsyncIntervalOpt = Annotated[
    str, typer.Option("--fsync-interval", help="...and at least this often (1s; 0: never).")
]
SpoolRequiredOpt = Annotated[
    Path, typer.Option("--spool", envvar="HORIZONS_SPOOL", help="Spool directory.")
]


def spool_settings(
    path: Path | None,
    spool_max: str = "10GiB",
    policy: str = "block",
    drain_rate: float = 20_000.0,
    fsync_every: int = 1000,
    fsync_interval: str = "1s",
) -> SpoolSettings | None:
    """The spool the options describe; None without ``--spool``."""
    if path is None:
        return None
    return SpoolSettings(
        path=path,
        max_bytes=parse_size(spool_max, what="--spool-max"),
        policy=policy,  # type: ignore[arg-type]  # checked by SpoolSettings
        drain_rate=drain_rate,
        fsync_every=fsync_every,
        fsync_interval_s=parse_duration(fsync_interval, what="--fsync-interval"),
    )


def _status_line(s: SpoolSummary) -> str:
    age = "" if s.oldest_age_s is None else f", oldest {s.oldest_age_s:.0f} s old"
    damaged = f", {s.damaged} damaged (skipped)" if s.damaged else ""
    return (
        f"spool {s.path}: {s.records:,} packets waiting, {format_bytes(s.bytes)} in "
        f"{len(s.segments)} segment(s){age}{damaged}"
    )


@app.command()
def status(spool: SpoolRequiredOpt, as_json: JsonOpt = False) -> None:
    """How many packets wait in the spool, its size, its oldest packet's age (read only:
    safe while a publisher uses it). Exit 9 when it holds packets."""
    summary = summarize(spool)
    if as_json:
        fields = msgspec.structs.asdict(summary)
        fields.pop("segments")
        print_json(fields)
    else:
        typer.echo(_status_line(summary))
    if summary.records:
        raise typer.Exit(Exit.SPOOLED)


@app.command()
def inspect(spool: SpoolRequiredOpt, as_json: JsonOpt = False) -> None:
    """Every segment: records, seq range, damaged stretches (checksum mismatches, a torn
    final record). Exit 1 when damage is found."""
    summary = summarize(spool)
    if as_json:
        print_json(summary)
    else:
        typer.echo(_status_line(summary))
        for seg in summary.segments:
            seqs = "empty" if seg.first_seq is None else f"seq {seg.first_seq}..{seg.last_seq}"
            typer.echo(
                f"  {seg.name}  {format_bytes(seg.bytes):>10}  {seg.records:,} records, {seqs}"
            )
            for offset, length in seg.damaged:
                typer.echo(f"    damaged at offset {offset} ({length} bytes): never delivered")
    if summary.damaged:
        raise typer.Exit(Exit.PROBLEM)


@app.command()
def drain(
    spool: SpoolRequiredOpt,
    drain_rate: DrainRateOpt = 20_000.0,
    timeout: Annotated[
        str, typer.Option(help="Give up after this long (what is left stays spooled).")
    ] = "10m",
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
) -> None:
    """Deliver what the spool holds to the topic, oldest first, then exit (0 when empty,
    9 when packets are still spooled at --timeout or Ctrl-C)."""
    settings = load_settings(bootstrap, topic, None)
    limit = parse_duration(timeout, what="--timeout")
    spool_cfg = SpoolSettings(path=spool, drain_rate=drain_rate)
    with stop_on_signals() as stop:
        raise_if_refused(settings)  # a drain needs the broker: exit 3 now, not at --timeout
        pub = Publisher(settings, spool=spool_cfg)
        waiting = pub.queued()
        err_console.print(f"draining {waiting:,} packets from {spool} to {settings.topic}")
        deadline = time.monotonic() + limit
        while pub.queued() and not stop.is_set() and time.monotonic() < deadline:
            stop.wait(0.2)
        report = pub.close(timeout=5.0)
    err_console.print(
        f"delivered {waiting - report.spooled:,} of {waiting:,}; "
        + (f"{report.spooled:,} still spooled in {spool}" if report.spooled else "spool empty")
    )
    if report.spooled:
        raise typer.Exit(Exit.SPOOLED)
