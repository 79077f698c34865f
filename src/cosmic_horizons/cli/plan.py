"""``horizons plan``: size the data plane for an array (brokers, partitions, disks, network,
archive, processes). The formulas are in :mod:`cosmic_horizons.plan`.

Exit codes: 0 the plan was printed; 2 bad arguments.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Annotated, Any

import typer
from rich.table import Table

from .._units import format_age_ms, parse_duration, parse_size
from ..errors import ConfigError
from ..plan import (
    NGVLA,
    SPEC_PROD_BROKERS,
    SPEC_PROD_DISK_BYTES,
    YEAR_S,
    Plan,
    PlanInputs,
    hold_seconds,
    plan,
)
from .common import JsonOpt, out_console, print_json

__all__ = ["measure_compression", "register"]

_PETA = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(PB|PiB)\s*$", re.IGNORECASE)


def _bytes(text: str, what: str) -> float:
    """``parse_size`` plus PB/PiB (the spec's ~240 PB/year)."""
    match = _PETA.match(text)
    if match:
        return float(match.group(1)) * (2**50 if match.group(2).lower() == "pib" else 1e15)
    return float(parse_size(text, what=what))


def _rate(text: str, what: str) -> float:
    """Bytes per second from ``7.6GB/s``, ``10Gbit/s`` or ``500MB`` (per second implied)."""
    body = text.strip()
    if body.lower().endswith("/s"):
        body = body[:-2]
    if body.lower().endswith("bit"):
        return _bytes(body[:-3] + "B", what) / 8
    return _bytes(body, what)


def measure_compression(chunk_samples: int, packets: int = 5000, batch_bytes: int = 65536) -> float:
    """Snappy's stored/raw ratio on simulated packets batched as a producer batches them.

    The packets come from the array simulator (seed 0, the given visibility chunk size), are
    encoded as the publisher encodes them and compressed in batches of ``batch_bytes``.
    """
    import pyarrow as pa

    from ..packet import encode_packet
    from ..simulator import ArraySimulator

    sim = ArraySimulator(263, 5, seed=0, chunk_samples=chunk_samples)
    raw = packed = 0
    batch = bytearray()
    for packet in sim.packets(packets):
        batch += encode_packet(packet)
        if len(batch) >= batch_bytes:
            raw += len(batch)
            packed += len(pa.compress(bytes(batch), codec="snappy", asbytes=True))
            batch.clear()
    if batch:
        raw += len(batch)
        packed += len(pa.compress(bytes(batch), codec="snappy", asbytes=True))
    return packed / raw


def plan_json(inputs: PlanInputs, p: Plan, measured: bool) -> dict[str, Any]:
    held = hold_seconds(p.stored_bps, SPEC_PROD_BROKERS, SPEC_PROD_DISK_BYTES, 3)
    return {
        "inputs": {**dataclasses.asdict(inputs), "compression_measured": measured},
        "plan": dataclasses.asdict(p),
        "spec_prod_cluster": {
            "brokers": SPEC_PROD_BROKERS,
            "disk_bytes_per_broker": SPEC_PROD_DISK_BYTES,
            "replication_factor": 3,
            "holds_seconds": held,
            "holds_retention": held >= inputs.retention_s,
        },
    }


def _si(n: float, unit: str = "B") -> str:
    for prefix, size in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g} {prefix}{unit}"
    return f"{n:.3g} {unit}"


def _print(inputs: PlanInputs, p: Plan, measured: bool) -> None:
    ratio = f"{inputs.compression_ratio:.3f}" + (
        " (measured on simulated packets)" if measured else ""
    )
    keep = format_age_ms(inputs.retention_s * 1000)
    rows = [
        ("elements / sites", f"{inputs.elements} / {inputs.sites}"),
        ("ingest (raw)", f"{_si(p.raw_bps)}/s, {p.packets_per_s:,.0f} packets/s"),
        ("compression (stored/raw)", ratio),
        ("stored", f"{_si(p.stored_bps)}/s"),
        ("retained, one copy", f"{_si(p.retained_bytes)} ({keep})"),
        ("on disk, all copies", f"{_si(p.on_disk_bytes)} (RF {inputs.replication_factor})"),
        ("brokers", f"{p.brokers} (disk {p.brokers_for_disk}, throughput "
                    f"{p.brokers_for_throughput}, network {p.brokers_for_network}, RF "
                    f"{inputs.replication_factor})"),
        ("partitions", f"{p.partitions} (throughput and one per archiver, a multiple of "
                       "the brokers)"),
        ("disk per broker", f"{_si(p.disk_per_broker_bytes)}; with "
                            f"{inputs.disk_headroom:.0%} headroom "
                            f"{_si(p.disk_per_broker_with_headroom_bytes)}"),
        ("network per broker", f"in {_si(p.net_in_per_broker_bps)}/s, out "
                               f"{_si(p.net_out_per_broker_bps)}/s"),
        ("archive", f"{_si(p.archive_per_day_bytes)}/day, {_si(p.archive_per_year_bytes)}/year"),
        ("object-store PUTs", f"{p.object_store_puts_per_s:.3g}/s"),
        ("archiver processes", f"{p.archivers} (300 k rows/s, 105 MB/s each: docs/benchmarks.md)"),
        ("publisher processes", f"{p.publishers} (370 k packets/s each: docs/benchmarks.md)"),
    ]  # fmt: skip
    table = Table(title="data-plane plan", title_justify="left", show_header=False)
    table.add_column("")
    table.add_column("")
    for row in rows:
        table.add_row(*row)
    out_console.print(table)
    held = hold_seconds(p.stored_bps, SPEC_PROD_BROKERS, SPEC_PROD_DISK_BYTES, 3)
    verdict = (
        "enough for the retention"
        if held >= inputs.retention_s
        else f"not {format_age_ms(inputs.retention_s * 1000)}: {p.brokers} brokers are needed"
    )
    out_console.print(
        f"The spec's prod cluster ({SPEC_PROD_BROKERS} brokers x 500 GiB, RF 3) holds "
        f"{format_age_ms(held * 1000)} of this data before its disks are full: {verdict}.",
        soft_wrap=True,
    )


def plan_command(
    preset: Annotated[
        str | None, typer.Option("--preset", help="ngvla: 263 antennas, ~240 PB/year.")
    ] = None,
    elements: Annotated[int | None, typer.Option("--elements", help="Array elements.")] = None,
    sites: Annotated[int | None, typer.Option("--sites", help="Sites.")] = None,
    telemetry_hz: Annotated[
        float | None, typer.Option("--telemetry-hz", help="Telemetry packets per element per s.")
    ] = None,
    packet_bytes: Annotated[
        str | None, typer.Option("--packet-bytes", help="Telemetry packet size [247B].")
    ] = None,
    visibility: Annotated[
        str | None, typer.Option("--visibility", help="Visibility rate, all elements: 7.6GB/s.")
    ] = None,
    visibility_per_element: Annotated[
        str | None, typer.Option("--visibility-per-element", help="Visibility per element: 29MB/s.")
    ] = None,
    per_year: Annotated[
        str | None, typer.Option("--per-year", help="Raw volume a year instead: 240PB.")
    ] = None,
    retention: Annotated[
        str | None, typer.Option("--retention", help="Kafka retention [7d].")
    ] = None,
    replication_factor: Annotated[
        int | None, typer.Option("--replication-factor", help="Copies [3].")
    ] = None,
    compression_ratio: Annotated[
        float | None,
        typer.Option(
            "--compression-ratio",
            help="Stored/raw bytes; measured with snappy on simulated packets when not given.",
        ),
    ] = None,
    broker_disk: Annotated[
        str | None, typer.Option("--broker-disk", help="Disk per broker [500GiB].")
    ] = None,
    disk_headroom: Annotated[
        float | None, typer.Option("--disk-headroom", help="Share kept free [0.3].")
    ] = None,
    broker_nic: Annotated[
        str | None, typer.Option("--broker-nic", help="NIC per broker [10Gbit/s].")
    ] = None,
    broker_throughput: Annotated[
        str | None, typer.Option("--broker-throughput", help="Disk writes per broker [300MB/s].")
    ] = None,
    partition_throughput: Annotated[
        str | None, typer.Option("--partition-throughput", help="Per partition [10MB/s].")
    ] = None,
    consumers: Annotated[
        int | None, typer.Option("--consumers", help="Groups reading everything [1].")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Size the data plane: brokers, partitions, disk and network per broker, archive volume,
    object-store requests and processes. Exit 0, or 2 for bad input."""
    if preset is not None and preset.lower() != "ngvla":
        raise ConfigError(f"--preset {preset!r}: the only preset is ngvla")
    base = NGVLA if preset else PlanInputs(elements=elements or 263, sites=sites or 5)
    changes: dict[str, Any] = {}
    for name, value in (
        ("elements", elements), ("sites", sites), ("telemetry_hz", telemetry_hz),
        ("replication_factor", replication_factor), ("disk_headroom", disk_headroom),
        ("consumers", consumers),
    ):  # fmt: skip
        if value is not None:
            changes[name] = value
    if packet_bytes:
        changes["telemetry_bytes"] = int(_bytes(packet_bytes, "--packet-bytes"))
    given = [v for v in (visibility, visibility_per_element, per_year) if v]
    if len(given) > 1:
        raise ConfigError("give one of --visibility, --visibility-per-element, --per-year")
    n = changes.get("elements", base.elements)
    if visibility:
        changes["visibility_bps"] = _rate(visibility, "--visibility")
    if visibility_per_element:
        changes["visibility_bps"] = _rate(visibility_per_element, "--visibility-per-element") * n
    if per_year:
        changes["visibility_bps"] = _bytes(per_year, "--per-year") / YEAR_S
    if retention:
        changes["retention_s"] = parse_duration(retention, what="--retention", default_unit="d")
    for name, text, what in (
        ("broker_disk_bytes", broker_disk, "--broker-disk"),
        ("broker_nic_bps", broker_nic, "--broker-nic"),
        ("broker_throughput_bps", broker_throughput, "--broker-throughput"),
        ("partition_bps", partition_throughput, "--partition-throughput"),
    ):
        if text:
            changes[name] = _bytes(text, what) if name == "broker_disk_bytes" else _rate(text, what)
    measured = compression_ratio is None
    if measured:
        chunk = 64 if changes.get("visibility_bps", base.visibility_bps) > 0 else 0
        changes["compression_ratio"] = round(measure_compression(chunk), 4)
    else:
        changes["compression_ratio"] = compression_ratio
    inputs = dataclasses.replace(base, **changes)
    result = plan(inputs)
    if as_json:
        print_json(plan_json(inputs, result, measured))
    else:
        _print(inputs, result, measured)


def register(app: typer.Typer) -> None:
    """Add ``plan`` to the root app."""
    app.command("plan")(plan_command)
