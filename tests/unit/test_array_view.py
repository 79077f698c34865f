"""ArrayView without a broker: health rules, per-site aggregates, bad records, rate history."""

from __future__ import annotations

import time

import msgspec
import pytest

from cosmic_horizons.array_view import (
    MAX_ELEMENTS,
    METADATA_TIMEOUT_S,
    RATE_HISTORY_S,
    ArraySnapshot,
    ArrayView,
    HealthThresholds,
    classify,
)
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.errors import ConfigError
from cosmic_horizons.packet import KafkaPayload, Metrics, encode_packet, packet_headers
from cosmic_horizons.packet_binary import encode_binary
from tests.helpers import make_packet

LIMITS = HealthThresholds()


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def packet(element: str, site: str, *, rfi: float = -97.0, noise: float = -100.0) -> bytes:
    return encode_packet(
        KafkaPayload(
            source_id=element,
            target_id=site,
            route_type="node_to_hub",
            element_id=element,
            site_id=site,
            timestamp="2026-11-27T12:00:00Z",
            metrics=Metrics(vibration=0.02, power_usage=1800.0, noise_floor=noise, rfi_level=rfi),
        )
    )


def view(clock: FakeClock, **limits: float) -> ArrayView:
    return ArrayView(
        KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        thresholds=HealthThresholds(**limits) if limits else None,
        clock=clock,
    )


@pytest.mark.parametrize(
    ("rfi", "noise", "age", "expected"),
    [
        (-97.0, -100.0, 0.0, "ok"),  # quiet sky: RFI a few dB over the noise floor
        (-80.0, -100.0, 0.0, "ok"),  # exactly at the warn limit is still ok
        (-79.9, -100.0, 0.0, "warn"),
        (-60.0, -100.0, 0.0, "warn"),
        (-59.9, -100.0, 0.0, "alarm"),
        (-97.0, -89.5, 0.0, "warn"),  # receiver noise 10 dB up
        (-97.0, -79.0, 0.0, "alarm"),
        (-130.0, -130.0, 0.0, "warn"),  # a receiver chain gone quiet
        (-97.0, -100.0, 30.0, "ok"),  # at the stale limit
        (-97.0, -100.0, 30.1, "stale"),
        (-40.0, -70.0, 31.0, "stale"),  # stale wins: its last metrics are old news
    ],
)
def test_classify(rfi: float, noise: float, age: float, expected: str) -> None:
    health, reasons = classify(rfi, noise, age, LIMITS)
    assert health == expected
    assert bool(reasons) == (expected != "ok")


def test_classify_names_every_rule_that_fired() -> None:
    health, reasons = classify(-50.0, -85.0, 0.0, LIMITS)
    assert health == "alarm"
    assert reasons == ["RFI -50.0 dBm > -60 dBm", "noise floor -85.0 dBm > -90 dBm"]


def test_thresholds_are_checked() -> None:
    with pytest.raises(ConfigError, match="rfi_alarm_dbm"):
        HealthThresholds(rfi_warn_dbm=-60.0, rfi_alarm_dbm=-80.0)
    with pytest.raises(ConfigError, match="stale_after_s"):
        HealthThresholds(stale_after_s=0)


def test_latest_packet_per_element_and_site_aggregates() -> None:
    clock = FakeClock()
    v = view(clock)
    assert v.ingest(packet("element-1-1", "site-1", rfi=-97.0, noise=-100.0), offset=0)
    assert v.ingest(packet("element-1-2", "site-1", rfi=-70.0, noise=-101.0), offset=1)
    assert v.ingest(packet("element-1-10", "site-1", rfi=-55.0, noise=-99.0), offset=2)
    assert v.ingest(packet("element-2-1", "site-2", rfi=-98.0, noise=-100.5), offset=3)
    # a newer packet replaces the older one of the same element
    assert v.ingest(packet("element-2-1", "site-2", rfi=-96.0, noise=-100.0), offset=4)

    snap = v.snapshot()
    assert [e.element_id for e in snap.elements] == [
        "element-1-1",
        "element-1-2",
        "element-1-10",  # natural order, not string order
        "element-2-1",
    ]
    by_id = {e.element_id: e for e in snap.elements}
    assert by_id["element-2-1"].rfi_level == -96.0
    assert by_id["element-2-1"].packets == 2
    assert by_id["element-2-1"].offset == 4
    assert [by_id[f"element-1-{n}"].health for n in (1, 2, 10)] == ["ok", "warn", "alarm"]

    site1, site2 = snap.sites
    assert (site1.site_id, site1.elements, site1.ok, site1.warn, site1.alarm, site1.stale) == (
        "site-1",
        3,
        1,
        1,
        1,
        0,
    )
    assert site1.max_rfi == -55.0
    assert site1.mean_rfi == pytest.approx((-97.0 - 70.0 - 55.0) / 3, abs=0.01)
    assert site1.mean_noise_floor == pytest.approx(-100.0, abs=0.01)
    assert site1.health == "alarm"
    assert (site2.elements, site2.ok, site2.health) == (1, 1, "ok")
    assert snap.records == 5
    assert snap.undecodable == 0


def test_stale_elements_are_counted_and_left_out_of_the_averages() -> None:
    clock = FakeClock()
    v = view(clock, stale_after_s=5.0)
    v.ingest(packet("element-1-1", "site-1", rfi=-50.0))
    clock.now += 10.0
    v.ingest(packet("element-1-2", "site-1", rfi=-90.0, noise=-101.0))
    v.ingest(packet("element-2-1", "site-2"))
    clock.now += 1.0
    snap = v.snapshot()
    by_id = {e.element_id: e for e in snap.elements}
    assert by_id["element-1-1"].health == "stale"
    assert by_id["element-1-1"].age_s == pytest.approx(11.0)
    site1 = snap.sites[0]
    assert (site1.stale, site1.ok, site1.alarm) == (1, 1, 0)
    assert site1.max_rfi == -90.0  # the stale -50 dBm reading is not counted
    assert site1.health == "ok"
    clock.now += 10.0
    snap = v.snapshot()
    assert {s.health for s in snap.sites} == {"stale"}
    assert all(s.mean_rfi is None for s in snap.sites)


def test_bad_records_are_counted_and_skipped() -> None:
    clock = FakeClock()
    v = view(clock)
    assert v.ingest(packet("element-1-1", "site-1"), partition=0, offset=0)
    assert not v.ingest(b"\xff\xfe not json", partition=0, offset=1)
    assert not v.ingest(b'{"sourceId": "x"}', partition=2, offset=7)
    assert not v.ingest(None, partition=0, offset=8)
    assert v.ingest(packet("element-1-2", "site-1"), partition=0, offset=9)
    snap = v.snapshot()
    assert snap.records == 5
    assert snap.undecodable == 3
    assert snap.last_decode_error == "partition 0 offset 8: $: empty record (no value)"
    assert [e.element_id for e in snap.elements] == ["element-1-1", "element-1-2"]


def test_rate_history_counts_records_per_second() -> None:
    clock = FakeClock(1_800_000_000.2)
    v = view(clock)
    for _ in range(30):
        v.ingest(packet("element-1-1", "site-1"))
    clock.now += 1.0
    for _ in range(10):
        v.ingest(packet("element-1-1", "site-1"))
    clock.now += 1.0
    snap = v.snapshot()
    assert len(snap.rate_history) == RATE_HISTORY_S
    assert [p.count for p in snap.rate_history[-3:]] == [30, 10, 0]
    assert snap.rate_history[-1].t == int(clock.now)
    assert snap.rate == 4.0  # 40 records over the last 10 whole seconds


def test_snapshot_round_trips_through_its_wire_model() -> None:
    clock = FakeClock()
    v = view(clock)
    v.ingest(packet("element-1-1", "site-1"))
    wire = msgspec.json.encode(v.snapshot())
    assert b'"elementId":"element-1-1"' in wire
    assert b'"rfiLevel":-97.0' in wire
    back = msgspec.json.decode(wire, type=ArraySnapshot)
    assert back.elements[0].site_id == "site-1"


def test_element_ids_beyond_the_limit_are_counted_not_kept() -> None:
    clock = FakeClock()
    v = ArrayView(KafkaSettings(bootstrap_servers="127.0.0.1:1"), max_elements=3, clock=clock)
    for n in range(5):
        assert v.ingest(packet(f"element-1-{n}", "site-1"))
    assert v.ingest(packet("element-1-0", "site-1", rfi=-50.0))  # a known id still updates
    snap = v.snapshot()
    assert [e.element_id for e in snap.elements] == ["element-1-0", "element-1-1", "element-1-2"]
    assert snap.elements[0].health == "alarm"
    assert snap.untracked == 2
    assert snap.element_limit == 3  # the limit is stated in every snapshot


def test_the_full_array_is_tracked_and_shown_by_default() -> None:
    from cosmic_horizons.simulator import element_ids

    v = view(FakeClock())
    ids = element_ids(26_300, 100)
    for n, (element, site) in enumerate(ids):
        assert v.ingest(packet(element, f"site-{site}"), offset=n)
    snap = v.snapshot()
    assert len(snap.elements) == 26_300 and snap.untracked == 0
    assert snap.element_limit == MAX_ELEMENTS
    assert [s.site_id for s in snap.sites[:3]] == ["site-1", "site-2", "site-3"]
    assert [e.element_id for e in snap.elements[8:11]] == [
        "element-1-9",
        "element-1-10",  # natural order, kept between snapshots
        "element-1-11",
    ]
    v.ingest(packet("element-1-10", "site-2"), offset=26_300)  # moves to another site
    moved = v.snapshot()
    assert moved.elements[9].element_id == "element-1-11"
    assert [e.element_id for e in moved.elements if e.site_id == "site-2"][:2] == [
        "element-1-10",
        "element-2-1",
    ]


def test_close_does_not_wait_out_a_dead_brokers_metadata_timeout() -> None:
    view = ArrayView(KafkaSettings(bootstrap_servers="127.0.0.1:1")).start()
    time.sleep(0.3)  # the consumer thread is asking a dead address for the topic's metadata
    view.close(timeout=METADATA_TIMEOUT_S / 2)
    assert not view.running


def test_binary_packets_are_read_by_their_content_type() -> None:
    v = view(FakeClock())
    binary = packet_headers("binary")
    assert v.ingest(encode_binary(make_packet(1), b"\x01" * 64), headers=binary, offset=0)
    assert v.ingest(encode_binary(make_packet(2)), headers=binary, offset=1)
    assert not v.ingest(encode_binary(make_packet(3))[:15], headers=binary, offset=2)
    assert not v.ingest(encode_packet(make_packet(4)), headers=binary, offset=3)
    snap = v.snapshot()
    assert {e.element_id: e.has_chunk for e in snap.elements} == {
        "element-2-1": True,
        "element-3-2": False,
    }
    assert snap.undecodable == 2
    assert "content-type says" in (snap.last_decode_error or "")
