"""Sizing the data plane for an array: the formulas of ``horizons plan``, as pure functions.

Rates are bytes per second; ``compression_ratio`` is stored bytes / raw bytes (0.5 = halved).
Per-process rates come from the project's benchmarks (docs/benchmarks.md), cited by name:

* :data:`PUBLISHER_PACKETS_PER_S`: ``publish_many`` of 247-byte packets, 370 k/s per process;
* :data:`ARCHIVER_ROWS_PER_S`: the archiver with its default ``--workers 1``, 300 k rows/s of
  ~350-byte packets (the low end of 300-430 k), so :data:`ARCHIVER_BYTES_PER_S` = 105 MB/s.

The formulas, with ``raw = telemetry + visibility`` and ``stored = raw * compression_ratio``:

* packets/s = max(elements * telemetry_hz, visibility / max_chunk_bytes)
* retained (one copy) = stored * retention_s; on disk = retained * RF
* brokers = max(RF, ceil(on disk / (disk * (1 - headroom))), ceil(writes / throughput),
  ceil(traffic / (NIC * nic_use))), where writes = stored * RF and traffic = the busiest of in
  and out below, summed over the cluster
* partitions = max(ceil(stored / partition_bps), archivers, brokers), rounded up to a
  multiple of brokers (one partition per archiver process at least)
* per broker: in = stored * RF / brokers (producers and followers), out = stored * (RF - 1 +
  consumers) / brokers (followers fetching and every consumer group reading everything)
* archive per day = stored * 86 400 (the archive's Parquet files are taken to compress as
  the topic does); object-store PUTs/s = files/s = max(packets/s / 10 000, stored / 64 MiB)
  (the archiver's roll policy: 10 000 records or 64 MiB per file)
* archivers = max(ceil(packets/s / ARCHIVER_ROWS_PER_S), ceil(raw / ARCHIVER_BYTES_PER_S))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ConfigError

__all__ = [
    "ARCHIVER_BYTES_PER_S",
    "ARCHIVER_ROWS_PER_S",
    "NGVLA",
    "PUBLISHER_PACKETS_PER_S",
    "SPEC_PROD_BROKERS",
    "SPEC_PROD_DISK_BYTES",
    "Plan",
    "PlanInputs",
    "hold_seconds",
    "plan",
]

GIB = 2**30
YEAR_S = 365.25 * 86_400
#: docs/benchmarks.md, `benchmarks.publish`: publish_many, 247-byte packets, embedded broker.
PUBLISHER_PACKETS_PER_S = 370_000
#: docs/benchmarks.md, `benchmarks/archive.py`: --workers 1 (the default), 300-430 k rows/s of
#: ~350-byte packets; the low end is taken.
ARCHIVER_ROWS_PER_S = 300_000
ARCHIVER_ROW_BYTES = 350
ARCHIVER_BYTES_PER_S = ARCHIVER_ROWS_PER_S * ARCHIVER_ROW_BYTES
#: The archiver's roll policy (archiver/ranges.py RollPolicy): one file per 10 000 records
#: or 64 MiB.
FILE_RECORDS = 10_000
FILE_BYTES = 64 * 2**20
#: The spec's prod cluster: 3 brokers with a 500Gi volume each.
SPEC_PROD_BROKERS = 3
SPEC_PROD_DISK_BYTES = 500 * GIB


@dataclass(frozen=True, slots=True)
class PlanInputs:
    """What the array sends and what each broker can take."""

    elements: int
    sites: int = 1
    telemetry_hz: float = 1.0
    telemetry_bytes: int = 247
    visibility_bps: float = 0.0
    retention_s: float = 7 * 86_400
    replication_factor: int = 3
    compression_ratio: float = 0.5
    broker_disk_bytes: float = SPEC_PROD_DISK_BYTES
    disk_headroom: float = 0.3
    broker_nic_bps: float = 10e9 / 8
    nic_use: float = 0.7
    broker_throughput_bps: float = 300e6
    partition_bps: float = 10e6
    consumers: int = 1
    max_chunk_bytes: int = 1_000_000

    def __post_init__(self) -> None:
        positive = {
            "elements": self.elements, "sites": self.sites, "telemetry-hz": self.telemetry_hz,
            "retention": self.retention_s, "replication-factor": self.replication_factor,
            "broker-disk": self.broker_disk_bytes, "broker-nic": self.broker_nic_bps,
            "broker-throughput": self.broker_throughput_bps,
            "partition-throughput": self.partition_bps, "max-chunk": self.max_chunk_bytes,
        }  # fmt: skip
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"--{name}: must be positive, got {value}")
        if self.visibility_bps < 0:
            raise ConfigError(f"--visibility: must not be negative, got {self.visibility_bps}")
        if not 0 < self.compression_ratio <= 1.5:
            raise ConfigError(
                "--compression-ratio: stored/raw bytes, within (0, 1.5], got "
                f"{self.compression_ratio}"
            )
        if not 0 <= self.disk_headroom < 1 or not 0 < self.nic_use <= 1:
            raise ConfigError("--disk-headroom must be in [0, 1) and the NIC use in (0, 1]")
        if self.consumers < 0:
            raise ConfigError(f"--consumers: must not be negative, got {self.consumers}")


@dataclass(frozen=True, slots=True)
class Plan:
    """The sizing: rates, brokers, partitions, per-broker load, archive and processes."""

    raw_bps: float
    stored_bps: float
    packets_per_s: float
    retained_bytes: float
    on_disk_bytes: float
    brokers: int
    brokers_for_disk: int
    brokers_for_throughput: int
    brokers_for_network: int
    partitions: int
    disk_per_broker_bytes: float
    disk_per_broker_with_headroom_bytes: float
    net_in_per_broker_bps: float
    net_out_per_broker_bps: float
    archive_per_day_bytes: float
    archive_per_year_bytes: float
    object_store_puts_per_s: float
    archivers: int
    publishers: int


def plan(i: PlanInputs) -> Plan:
    """The sizing for ``i`` (see the module's formulas)."""
    telemetry = i.elements * i.telemetry_hz * i.telemetry_bytes
    raw = telemetry + i.visibility_bps
    stored = raw * i.compression_ratio
    packets = max(i.elements * i.telemetry_hz, i.visibility_bps / i.max_chunk_bytes)
    retained = stored * i.retention_s
    on_disk = retained * i.replication_factor
    rf = i.replication_factor
    for_disk = math.ceil(on_disk / (i.broker_disk_bytes * (1 - i.disk_headroom)))
    for_throughput = math.ceil(stored * rf / i.broker_throughput_bps)
    traffic = max(stored * rf, stored * (rf - 1 + i.consumers))
    for_network = math.ceil(traffic / (i.broker_nic_bps * i.nic_use))
    brokers = max(rf, for_disk, for_throughput, for_network)
    archivers = max(
        1,
        math.ceil(packets / ARCHIVER_ROWS_PER_S),
        math.ceil(raw / ARCHIVER_BYTES_PER_S),
    )
    partitions = max(math.ceil(stored / i.partition_bps), archivers, brokers)
    partitions = math.ceil(partitions / brokers) * brokers
    return Plan(
        raw_bps=raw,
        stored_bps=stored,
        packets_per_s=packets,
        retained_bytes=retained,
        on_disk_bytes=on_disk,
        brokers=brokers,
        brokers_for_disk=for_disk,
        brokers_for_throughput=for_throughput,
        brokers_for_network=for_network,
        partitions=partitions,
        disk_per_broker_bytes=on_disk / brokers,
        disk_per_broker_with_headroom_bytes=on_disk / brokers / (1 - i.disk_headroom),
        net_in_per_broker_bps=stored * rf / brokers,
        net_out_per_broker_bps=stored * (rf - 1 + i.consumers) / brokers,
        archive_per_day_bytes=stored * 86_400,
        archive_per_year_bytes=stored * YEAR_S,
        object_store_puts_per_s=max(packets / FILE_RECORDS, stored / FILE_BYTES),
        archivers=archivers,
        publishers=max(1, math.ceil(packets / PUBLISHER_PACKETS_PER_S)),
    )


def hold_seconds(stored_bps: float, brokers: int, disk_bytes: float, rf: int) -> float:
    """How long ``brokers`` disks of ``disk_bytes`` hold data arriving at ``stored_bps`` with
    ``rf`` copies: ``brokers * disk / (rf * stored)`` (no headroom: until full)."""
    if stored_bps <= 0:
        return math.inf
    return brokers * disk_bytes / (rf * stored_bps)


#: ngVLA-class array: 263 antennas (main plus short-baseline arrays), the spec's ~240 PB/year of
#: raw data as visibility, 1 Hz telemetry per antenna, the spec's 7 days and RF 3.
NGVLA = PlanInputs(
    elements=263,
    sites=2,
    visibility_bps=240e15 / YEAR_S,
)
