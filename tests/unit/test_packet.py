"""The KafkaPayload packet: validation names the field, JSON matches the spec."""

from __future__ import annotations

import math
import re
from datetime import datetime

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosmic_horizons.errors import PacketError
from cosmic_horizons.packet import (
    MAX_DATA_CHUNK_CHARS,
    TIMESTAMP_FORM,
    KafkaPayload,
    Metrics,
    chunk_bytes,
    decode_packet,
    encode_packet,
    json_schema,
    timestamp_ok,
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


METRICS = dict(vibration=0.0, power_usage=1.0, noise_floor=-90.0, rfi_level=-100.0)
WIRE = dict(vibration="vibration", power_usage="powerUsage", noise_floor="noiseFloor")
WIRE["rfi_level"] = "rfiLevel"
PACKET = dict(
    source_id="element-1-1",
    target_id="site-1",
    route_type="node_to_hub",
    element_id="element-1-1",
    site_id="site-1",
    timestamp="2026-11-27T12:00:00Z",
    metrics=Metrics(**METRICS),
)
PACKET_WIRE = dict(
    source_id="sourceId",
    target_id="targetId",
    route_type="routeType",
    element_id="elementId",
    site_id="siteId",
    timestamp="timestamp",
    metrics="metrics",
    data_chunk="data_chunk",
)


@pytest.mark.parametrize("attr", list(METRICS))
@pytest.mark.parametrize(
    ("value", "reason_part"),
    [
        (10**400, "number out of range"),
        (-(10**309), "number out of range"),
        (True, "expected a number, got bool"),
        ("1.5", "expected a number, got str"),
        (None, "expected a number, got NoneType"),
        ([1.0], "expected a number, got list"),
        ({"value": 1.0}, "expected a number, got dict"),
        (1j, "expected a number, got complex"),
        (math.nan, "finite"),
        (math.inf, "finite"),
        (-math.inf, "finite"),
        (np.float64("nan"), "finite"),
    ],
)
def test_bad_metric_values_name_the_field(attr: str, value: object, reason_part: str) -> None:
    with pytest.raises(PacketError) as info:
        Metrics(**{**METRICS, attr: value})  # type: ignore[arg-type]
    assert info.value.field == f"$.metrics.{WIRE[attr]}"
    assert reason_part in info.value.reason
    assert len(str(info.value)) < 200  # one short line, even for a 400-digit number


@pytest.mark.parametrize(
    ("value", "stored"),
    [(1850, 1850.0), (-0, 0.0), (2**64, 1.8446744073709552e19), (np.float64(2.5), 2.5)],
)
def test_metric_numbers_are_stored_as_the_float_decoding_gives(
    value: object, stored: float
) -> None:
    metrics = Metrics(**{**METRICS, "power_usage": value})  # type: ignore[arg-type]
    assert metrics.power_usage.__class__ is float and metrics.power_usage == stored
    assert decode_packet(encode_packet(msgspec.structs.replace(make_packet(1), metrics=metrics)))


@pytest.mark.parametrize(
    ("attr", "value", "reason_part"),
    [
        ("source_id", None, "expected a string, got NoneType"),
        ("target_id", 5, "expected a string, got int"),
        ("element_id", b"element-1-1", "expected a string, got bytes"),
        ("site_id", ["site-1"], "expected a string, got list"),
        ("site_id", "", "1 to 256 characters"),
        ("source_id", "x" * 257, "1 to 256 characters"),
        ("element_id", "element-\ud800", "lone surrogate"),
        (
            "route_type",
            ["node_to_hub"],
            "expected 'node_to_hub' or 'hub_to_hub', got ['node_to_hub']",
        ),
        ("route_type", None, "got None"),
        ("route_type", 1, "got 1"),
        ("timestamp", ["2026-11-27T12:00:00Z"], "expected an ISO 8601 string"),
        ("timestamp", 1795780800000, "got int"),
        ("timestamp", None, "got NoneType"),
        ("timestamp", b"2026-11-27T12:00:00Z", "got bytes"),
        ("metrics", {"vibration": 0.0}, "expected Metrics, got dict"),
        ("metrics", None, "expected Metrics, got NoneType"),
        ("data_chunk", b"AAEC", "expected a string, got bytes"),
        ("data_chunk", 7, "expected a string, got int"),
        ("data_chunk", ["AAEC"], "expected a string, got list"),
    ],
)
def test_bad_packet_values_name_the_field(attr: str, value: object, reason_part: str) -> None:
    with pytest.raises(PacketError) as info:
        KafkaPayload(**{**PACKET, attr: value})  # type: ignore[arg-type]
    assert info.value.field == f"$.{PACKET_WIRE[attr]}"
    assert reason_part in info.value.reason


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),
    st.complex_numbers(),
    st.text(max_size=20),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.tuples(st.text(max_size=3)),
    st.sets(st.integers(), max_size=2),
)


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.sampled_from([*PACKET, "data_chunk", *(f"metrics.{a}" for a in METRICS)]), JUNK)
def test_any_value_of_any_field_builds_or_raises_packet_error(where: str, value: object) -> None:
    """Never TypeError, OverflowError or anything else; the error names the field."""
    try:
        if where.startswith("metrics."):
            attr = where.removeprefix("metrics.")
            Metrics(**{**METRICS, attr: value})  # type: ignore[arg-type]
        else:
            KafkaPayload(**{**PACKET, where: value})  # type: ignore[arg-type]
    except PacketError as exc:
        wire = f"metrics.{WIRE[attr]}" if where.startswith("metrics.") else PACKET_WIRE[where]
        assert exc.field == f"$.{wire}"


ACCEPTED_TIMESTAMPS = [
    ("2026-11-27T12:00:00Z", 1795780800000),
    ("2026-11-27T12:00:00.1Z", 1795780800100),
    ("2026-11-27T12:00:00.123Z", 1795780800123),
    ("2026-11-27T12:00:00.123456Z", 1795780800123),
    ("2026-11-27T12:00:00.123999999999Z", 1795780800123),  # past microseconds: cut, not rounded
    ("2026-11-27T17:30:00.5+05:30", 1795780800500),
    ("2026-11-27T11:00:00-01:00", 1795780800000),
    ("2026-11-27T12:00:00-00:00", 1795780800000),
    ("2026-11-28T11:59:00+23:59", 1795780800000),
    ("2024-02-29T00:00:00Z", 1709164800000),
    ("1969-12-31T23:59:59.999Z", -1),
    ("0001-01-01T00:00:00Z", -62135596800000),
    ("9999-12-31T23:59:59.999Z", 253402300799999),
]


@pytest.mark.parametrize(("text", "ms"), ACCEPTED_TIMESTAMPS)
def test_rfc3339_timestamps_are_accepted(text: str, ms: int) -> None:
    packet = KafkaPayload(**{**PACKET, "timestamp": text})  # type: ignore[arg-type]
    assert packet.timestamp_ms() == ms
    assert decode_packet(encode_packet(packet)).timestamp_ms() == ms
    assert timestamp_ok(text)


REJECTED_TIMESTAMPS = [
    "12:00:00 Z",  # time only
    "+00:00:30",
    "2026-11-27",  # date only
    "2026-W48-5T12:00:00Z",  # week date
    "2026-331T12:00:00Z",  # ordinal date
    "20261127T120000Z",  # basic format
    "2026-11-27T12:00:00,5Z",  # comma fraction
    "2026-11-27T12:00:00.Z",  # point without digits
    "2026-11-27T12:00Z",  # no seconds
    "2026-11-27T12Z",
    "2026-11-27 12:00:00Z",  # space separator
    "2026-11-27t12:00:00Z",  # lower-case t
    "2026-11-27x12:00:00Z",
    "2026-11-27T12:00:00z",  # lower-case z
    "2026-11-27T12:00:00+0000",  # offset without colon
    "2026-11-27T12:00:00+00",  # offset without minutes
    "2026-11-27T12:00:00+00:00:30",  # offset with seconds
    "2026-11-27T12:00:00 +00:00",
    "2026-11-27T12:00:00Z ",
    "2026-11-27T12:00:00Z\n",
    " 2026-11-27T12:00:00Z",
    "+2026-11-27T12:00:00Z",
    "12026-11-27T12:00:00Z",
    "\uff12\uff10\uff12\uff16-11-27T12:00:00Z",  # non-ASCII digits
    "2026-11-27T12:00:00.\uff11Z",
    "yesterday",
    "",
]


@pytest.mark.parametrize("text", REJECTED_TIMESTAMPS)
def test_other_timestamp_forms_are_refused_naming_the_form(text: str) -> None:
    with pytest.raises(PacketError) as info:
        KafkaPayload(**{**PACKET, "timestamp": text})  # type: ignore[arg-type]
    assert info.value.field == "$.timestamp"
    assert TIMESTAMP_FORM in info.value.reason
    assert TIMESTAMP_FORM == "YYYY-MM-DDTHH:MM:SS[.fraction] then Z or ±HH:MM"
    doc = msgspec.json.decode(encode_packet(make_packet(1)))
    with pytest.raises(PacketError) as decoded:
        decode_packet(msgspec.json.encode({**doc, "timestamp": text}))
    assert str(decoded.value) == str(info.value)
    assert not timestamp_ok(text)


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-29T12:00:00Z",  # not a leap year
        "2026-11-31T12:00:00Z",
        "2026-13-01T12:00:00Z",
        "2026-00-01T12:00:00Z",
        "2026-11-00T12:00:00Z",
        "0000-01-01T00:00:00Z",  # before year 1
        "2026-11-27T24:00:00Z",
        "2026-11-27T12:60:00Z",
        "2026-11-27T23:59:60Z",  # leap second: no such instant in Unix time
        "2026-11-27T12:00:00+24:00",
        "2026-11-27T12:00:00+05:60",
    ],
)
def test_impossible_dates_times_and_offsets_are_refused(text: str) -> None:
    with pytest.raises(PacketError) as info:
        KafkaPayload(**{**PACKET, "timestamp": text})  # type: ignore[arg-type]
    assert info.value.field == "$.timestamp"
    assert "no such date, time or offset" in info.value.reason


RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})"
)
TIMESTAMP_PARTS = st.builds(
    lambda *parts: "".join(parts),
    st.sampled_from(
        ["2026", "0000", "0001", "9999", "1969", "2024", "202", "20266", "\uff12\uff10\uff12\uff16"]
    ),
    st.sampled_from(["-", "", "/"]),
    st.sampled_from(["01", "02", "11", "12", "00", "13", "1", "W48"]),
    st.sampled_from(["-", ""]),
    st.sampled_from(["01", "28", "29", "30", "31", "00", "32", "5"]),
    st.sampled_from(["T", "t", " ", "x", "", "TT"]),
    st.sampled_from(["00", "12", "23", "24", "1"]),
    st.sampled_from([":", "", "::"]),
    st.sampled_from(["00", "59", "60", "5"]),
    st.sampled_from([":", "", "-"]),
    st.sampled_from(["00", "59", "60", "61", "5", ""]),
    st.sampled_from(["", ".", ",5", ".5", ".123", ".123456789012", ".\u0661"]),
    st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+05:30", "+0530", "+05", "+23:59"]),
    st.sampled_from(["", "", "", "+24:00", ":30", " ", "\n", "Z"]),
)


def oracle(text: str) -> bool:
    """RFC 3339 date-time by another route: the regex, then the calendar via strptime."""
    if not RFC3339.fullmatch(text):
        return False
    zone = text[19:].split(".")[-1].lstrip("0123456789")
    try:
        datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return False
    return zone == "Z" or (int(zone[1:3]) <= 23 and int(zone[4:6]) <= 59)


@settings(max_examples=400, deadline=None, database=None)
@given(TIMESTAMP_PARTS)
def test_fuzz_timestamps_accepted_exactly_in_rfc3339_form(text: str) -> None:
    assert timestamp_ok(text) == oracle(text)


def test_schema_states_the_timestamp_form() -> None:
    prop = json_schema()["$defs"]["KafkaPayload"]["properties"]["timestamp"]
    assert prop["format"] == "date-time" and TIMESTAMP_FORM in prop["description"]
    body = re.compile(prop["pattern"].removeprefix("^").removesuffix("$"))
    assert all(body.fullmatch(text) for text, _ms in ACCEPTED_TIMESTAMPS)
    assert not any(body.fullmatch(text) for text in REJECTED_TIMESTAMPS)
