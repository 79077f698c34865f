"""The KafkaPayload packet: validation names the field, JSON matches the spec."""

from __future__ import annotations

import math

import msgspec
import pytest

from cosmic_horizons.errors import PacketError
from cosmic_horizons.packet import (
    MAX_DATA_CHUNK_CHARS,
    KafkaPayload,
    Metrics,
    chunk_bytes,
    decode_packet,
    encode_packet,
    json_schema,
)
from tests.helpers import make_packet

# What the spec's NestJS MessagingIntegrationService emits: JSON.stringify of the packet with
# integer metrics, Date.toISOString() timestamps and its placeholder data_chunk.
NESTJS = (
    b'{"sourceId":"element-2-7","targetId":"site-2","routeType":"node_to_hub",'
    b'"elementId":"element-2-7","siteId":"site-2","timestamp":"2026-11-27T13:29:32.123Z",'
    b'"metrics":{"vibration":0,"powerUsage":1850,"noiseFloor":-98.2,"rfiLevel":-104},'
    b'"data_chunk":"base64_simulated_payload_representing_visibilities"}'
)


def good() -> dict[str, object]:
    return msgspec.json.decode(encode_packet(make_packet(3, chunk=chunk_bytes(b"\x00\x01\x02"))))


def test_wire_names_are_the_specs() -> None:
    wire = msgspec.json.decode(encode_packet(make_packet(1, chunk="AAEC")))
    assert list(wire) == [
        "sourceId",
        "targetId",
        "routeType",
        "elementId",
        "siteId",
        "timestamp",
        "metrics",
        "data_chunk",
    ]
    assert list(wire["metrics"]) == ["vibration", "powerUsage", "noiseFloor", "rfiLevel"]


def test_data_chunk_is_omitted_when_absent() -> None:
    assert b"data_chunk" not in encode_packet(make_packet(1))


def test_round_trip_is_equal() -> None:
    packet = make_packet(7, chunk=chunk_bytes(bytes(range(256))))
    assert decode_packet(encode_packet(packet)) == packet
    assert packet.chunk() == bytes(range(256))


def test_decodes_what_the_nestjs_producer_emits() -> None:
    packet = decode_packet(NESTJS)
    assert packet.element_id == "element-2-7"
    assert packet.metrics.power_usage == 1850.0
    assert packet.timestamp_ms() == 1795786172123
    assert packet.chunk() is not None  # URL-safe alphabet, no padding: accepted


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    data = good()
    data["firmware"] = "2.1"
    assert decode_packet(msgspec.json.encode(data)).site_id == "site-4"


@pytest.mark.parametrize(
    ("change", "field", "reason_part"),
    [
        (lambda d: d.pop("siteId"), "$.siteId", "required field is missing"),
        (lambda d: d["metrics"].pop("rfiLevel"), "$.metrics.rfiLevel", "required field is missing"),
        (lambda d: d.update(sourceId=5), "$.sourceId", "expected `str`, got `int`"),
        (lambda d: d.update(sourceId=""), "$.sourceId", "length >= 1"),
        (lambda d: d.update(routeType="hub_to_node"), "$.routeType", "hub_to_node"),
        (lambda d: d.update(timestamp="yesterday"), "$.timestamp", "not an ISO 8601"),
        (lambda d: d.update(timestamp="2026-11-27T12:00:00"), "$.timestamp", "no timezone"),
        (lambda d: d["metrics"].update(noiseFloor="-98"), "$.metrics.noiseFloor", "got `str`"),
        (lambda d: d["metrics"].update(vibration=True), "$.metrics.vibration", "got `bool`"),
        (lambda d: d.update(data_chunk="not base64!"), "$.data_chunk", "not valid base64"),
        (lambda d: d.update(data_chunk=7), "$.data_chunk", "got `int`"),
        (
            lambda d: d.update(data_chunk="A" * (MAX_DATA_CHUNK_CHARS + 4)),
            "$.data_chunk",
            "length <=",
        ),
        (lambda d: d.update(metrics=[1, 2]), "$.metrics", "expected `object`"),
    ],
)
def test_bad_packet_names_field_and_reason(change, field: str, reason_part: str) -> None:  # type: ignore[no-untyped-def]
    data = good()
    change(data)
    with pytest.raises(PacketError) as info:
        decode_packet(msgspec.json.encode(data))
    assert info.value.field == field
    assert reason_part in info.value.reason


def test_not_json_is_a_packet_error() -> None:
    with pytest.raises(PacketError) as info:
        decode_packet(b"{not json")
    assert info.value.field == "$" and "not valid JSON" in info.value.reason


def test_non_finite_numbers_are_refused_when_built_in_python() -> None:
    with pytest.raises(PacketError) as info:
        Metrics(vibration=0.0, power_usage=math.nan, noise_floor=-90.0, rfi_level=-100.0)
    assert info.value.field == "$.metrics.powerUsage"
    with pytest.raises(PacketError, match="finite"):
        Metrics(vibration=math.inf, power_usage=1.0, noise_floor=-90.0, rfi_level=-100.0)


def test_python_construction_is_validated_like_decoding() -> None:
    metrics = Metrics(vibration=0.0, power_usage=1.0, noise_floor=-90.0, rfi_level=-100.0)
    base = dict(
        source_id="element-1-1",
        target_id="site-1",
        route_type="node_to_hub",
        element_id="element-1-1",
        site_id="site-1",
        timestamp="2026-11-27T12:00:00Z",
        metrics=metrics,
    )
    KafkaPayload(**base)  # type: ignore[arg-type]
    with pytest.raises(PacketError) as info:
        KafkaPayload(**{**base, "route_type": "sideways"})  # type: ignore[arg-type]
    assert info.value.field == "$.routeType"
    with pytest.raises(PacketError) as info:
        KafkaPayload(**{**base, "element_id": 12})  # type: ignore[arg-type]
    assert info.value.field == "$.elementId"
    with pytest.raises(PacketError) as info:
        KafkaPayload(**{**base, "timestamp": "2026-11-27 12:00"})  # type: ignore[arg-type]
    assert info.value.field == "$.timestamp"


def test_timestamp_offsets_convert_to_epoch_ms() -> None:
    utc = msgspec.structs.replace(make_packet(1), timestamp="2026-11-27T12:00:01.001Z")
    plus_one = msgspec.structs.replace(utc, timestamp="2026-11-27T13:00:01.001+01:00")
    assert utc.timestamp_ms() == plus_one.timestamp_ms() == 1795780801001


def test_schema_has_spec_names_and_units() -> None:
    schema = json_schema()
    payload = schema["$defs"]["KafkaPayload"]
    assert set(payload["required"]) == {
        "sourceId",
        "targetId",
        "routeType",
        "elementId",
        "siteId",
        "timestamp",
        "metrics",
    }
    assert payload["properties"]["routeType"]["enum"] == ["hub_to_hub", "node_to_hub"]
    metrics = schema["$defs"]["Metrics"]["properties"]
    assert "(W)" in metrics["powerUsage"]["description"]
    assert "dBm" in metrics["noiseFloor"]["description"]
    assert "dBm" in metrics["rfiLevel"]["description"]


@pytest.mark.parametrize("chunk", ["AB=C", "A===", "ABCDE", "ABC$", "ÄBCD", "AB CD", "===="])
def test_malformed_base64_is_refused(chunk: str) -> None:
    with pytest.raises(PacketError) as info:
        msgspec.structs.replace(make_packet(1), data_chunk=chunk)
    assert info.value.field == "$.data_chunk"


@pytest.mark.parametrize(
    ("chunk", "raw"),
    [
        ("", b""),
        ("AAEC", b"\x00\x01\x02"),
        ("AA==", b"\x00"),
        ("_-8", b"\xff\xef"),
        ("AAE", b"\x00\x01"),
    ],
)
def test_base64_forms_accepted(chunk: str, raw: bytes) -> None:
    assert msgspec.structs.replace(make_packet(1), data_chunk=chunk).chunk() == raw
