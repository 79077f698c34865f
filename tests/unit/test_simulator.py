"""The simulated array: naming, routes, realistic and reproducible values."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from cosmic_horizons.errors import ConfigError
from cosmic_horizons.simulator import ArraySimulator, element_ids, stream

FIXED = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def sim(**kw: object) -> ArraySimulator:
    return ArraySimulator(clock=lambda: FIXED, **kw)  # type: ignore[arg-type]


def test_elements_spread_over_sites() -> None:
    ids = element_ids(263, 5)
    assert len({e for e, _ in ids}) == 263
    assert Counter(site for _, site in ids) == {1: 53, 2: 53, 3: 53, 4: 52, 5: 52}
    assert ids[0] == ("element-1-1", 1) and ids[5] == ("element-1-2", 1)


def test_routes_node_to_hub_and_hub_to_hub() -> None:
    packets = [p for _ in range(20) for p in sim(elements=50, sites=5).tick()]
    node = [p for p in packets if p.route_type == "node_to_hub"]
    hub = [p for p in packets if p.route_type == "hub_to_hub"]
    assert all(p.source_id == p.element_id and p.target_id == p.site_id for p in node)
    assert hub, "some packets are forwarded hub to hub"
    assert all(p.source_id == p.site_id and p.target_id != p.site_id for p in hub)
    assert all(p.target_id.startswith("site-") for p in hub)


def test_same_seed_same_values() -> None:
    a = [p for _ in range(5) for p in sim(seed=42, chunk_samples=8).tick()]
    b = [p for _ in range(5) for p in sim(seed=42, chunk_samples=8).tick()]
    c = [p for _ in range(5) for p in sim(seed=43, chunk_samples=8).tick()]
    assert a == b
    assert a != c


def test_values_are_realistic_with_rfi_bursts() -> None:
    s = sim(elements=100, sites=4, seed=1, rfi_burst_probability=0.01)
    packets = [p for _ in range(100) for p in s.tick() if p.route_type == "node_to_hub"]
    power = [p.metrics.power_usage for p in packets]
    noise = [p.metrics.noise_floor for p in packets]
    rfi = [p.metrics.rfi_level for p in packets]
    assert min(power) > 1000 and max(power) < 5000
    assert min(noise) > -110 and max(noise) < -90
    assert all(0 <= p.metrics.vibration < 0.2 for p in packets)
    assert any(r > -70 for r in rfi), "RFI bursts happen"
    assert sorted(rfi)[len(rfi) // 2] < -90, "but most readings are quiet"


def test_data_chunk_holds_complex64_samples() -> None:
    packet = sim(elements=1, sites=1, chunk_samples=64).tick()[0]
    assert len(packet.chunk() or b"") == 64 * 8


def test_count_stops_exactly() -> None:
    got: list[object] = []
    result = stream(sim(elements=10, sites=2), got.extend, rate_hz=1000, count=25)
    assert result.packets == len(got) == 25


@pytest.mark.parametrize("kw", [{"elements": 0}, {"sites": 0}, {"elements": 3, "sites": 4}])
def test_bad_sizes_are_config_errors(kw: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        ArraySimulator(**kw)
