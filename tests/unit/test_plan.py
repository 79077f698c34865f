"""plan.py against hand-worked examples (every figure below worked out by hand)."""

from __future__ import annotations

import math

import pytest

from cosmic_horizons.errors import ConfigError
from cosmic_horizons.plan import (
    ARCHIVER_BYTES_PER_S,
    NGVLA,
    SPEC_PROD_DISK_BYTES,
    PlanInputs,
    hold_seconds,
    plan,
)


def test_disk_bound_telemetry_only() -> None:
    # raw = 100 x 1 Hz x 200 B = 20 000 B/s; stored = 10 000 B/s; kept 1000 s, 3 copies:
    # 3e7 B on disk; a 1 MB disk used to half holds 5e5 B: 60 brokers.
    p = plan(
        PlanInputs(
            elements=100, telemetry_hz=1, telemetry_bytes=200, retention_s=1000,
            replication_factor=3, compression_ratio=0.5, broker_disk_bytes=1e6,
            disk_headroom=0.5, broker_nic_bps=1e6, nic_use=1.0, broker_throughput_bps=1e4,
            partition_bps=1000, consumers=1,
        )
    )  # fmt: skip
    assert (p.raw_bps, p.stored_bps, p.packets_per_s) == (20_000, 10_000, 100)
    assert (p.retained_bytes, p.on_disk_bytes) == (1e7, 3e7)
    assert (p.brokers_for_disk, p.brokers_for_throughput, p.brokers_for_network) == (60, 3, 1)
    assert p.brokers == 60
    assert p.partitions == 60  # 10 for throughput, raised to one per broker
    assert p.disk_per_broker_bytes == 5e5
    assert p.disk_per_broker_with_headroom_bytes == 1e6
    # In: 10 000 B/s x 3 copies over 60 brokers; out: 2 followers + 1 consumer, the same.
    assert (p.net_in_per_broker_bps, p.net_out_per_broker_bps) == (500, 500)
    assert p.archive_per_day_bytes == 8.64e8
    assert p.object_store_puts_per_s == pytest.approx(0.01)  # 100 packets/s, 10 000 a file
    assert (p.archivers, p.publishers) == (1, 1)


def test_network_bound_visibility() -> None:
    # raw = 10 x 100 B + 1e9 B/s; uncompressed. Out per broker counts 2 followers and
    # 2 consumer groups: 4e9 B/s over the cluster; NICs of 1e9 B/s used to half: 9 brokers.
    p = plan(
        PlanInputs(
            elements=10, telemetry_hz=1, telemetry_bytes=100, visibility_bps=1e9,
            retention_s=60, replication_factor=3, compression_ratio=1.0,
            broker_disk_bytes=1e12, disk_headroom=0.0, broker_nic_bps=1e9, nic_use=0.5,
            broker_throughput_bps=1e10, partition_bps=1e8, consumers=2, max_chunk_bytes=1e6,
        )  # type: ignore[arg-type]
    )  # fmt: skip
    assert p.raw_bps == 1_000_001_000
    assert p.packets_per_s == 1000  # 1e9 B/s in chunks of at most 1e6 B
    assert (p.brokers_for_disk, p.brokers_for_throughput, p.brokers_for_network) == (1, 1, 9)
    assert p.brokers == 9
    # 1.000001e9 B/s over archivers of 1.05e8 B/s each: 10 processes.
    assert ARCHIVER_BYTES_PER_S == 105_000_000
    assert p.archivers == 10
    # 11 partitions for throughput (1e8 B/s each), rounded up to a multiple of 9 brokers.
    assert p.partitions == 18
    assert p.net_in_per_broker_bps == pytest.approx(3.000003e9 / 9)
    assert p.net_out_per_broker_bps == pytest.approx(4.000004e9 / 9)


def test_how_long_a_cluster_holds() -> None:
    # 3 brokers x 500 GiB, 3 copies, 1 MB/s stored: 500 GiB / 1 MB/s = 536 870.912 s.
    assert hold_seconds(1e6, 3, SPEC_PROD_DISK_BYTES, 3) == pytest.approx(536_870.912)
    assert hold_seconds(0, 3, SPEC_PROD_DISK_BYTES, 3) == math.inf


def test_ngvla_preset_is_the_spec_s_240_pb_a_year() -> None:
    assert NGVLA.elements == 263
    # 240e15 B over 365.25 days: 7.605 GB/s of raw data.
    assert NGVLA.visibility_bps == pytest.approx(7.6053e9, rel=1e-4)
    p = plan(NGVLA)
    # 240 PB of visibility a year plus 263 x 247 B/s of telemetry (1 TB after compression).
    assert p.archive_per_year_bytes == pytest.approx(240e15 * NGVLA.compression_ratio, rel=1e-4)
    # The spec's prod cluster (3 x 500 GiB, RF 3) holds 500 GiB of it: about 141 s.
    held = hold_seconds(p.stored_bps, 3, SPEC_PROD_DISK_BYTES, 3)
    assert held == pytest.approx(141.2, abs=0.2)


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("elements", 0, "--elements"),
        ("compression_ratio", 0.0, "--compression-ratio"),
        ("visibility_bps", -1.0, "--visibility"),
        ("replication_factor", 0, "--replication-factor"),
    ],
)
def test_bad_inputs_name_the_option(field: str, value: float, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        PlanInputs(**{"elements": 10, field: value})  # type: ignore[arg-type]
