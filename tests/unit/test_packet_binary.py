"""The packet's binary form: round trip, the layout as documented, every rule on decode."""

from __future__ import annotations

import re
import struct

import msgspec
import pytest

from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.errors import ConfigError, PacketError
from cosmic_horizons.packet import (
    BINARY_CONTENT_TYPE,
    CONTENT_TYPE,
    chunk_bytes,
    decode_packet,
    encode_packet,
    packet_headers,
)
from cosmic_horizons.packet_binary import (
    HEADER_SIZE,
    MAX_CHUNK_BYTES,
    decode_binary,
    decode_binary_packet,
    decode_record,
    encode_binary,
)
from cosmic_horizons.publisher import Publisher
from tests.helpers import make_packet

CHUNK = bytes(range(256)) * 3


FIELDS = encode_packet(make_packet(2))


def build(body: bytes, chunk: bytes | None, *, version: int = 1, flags: int | None = None) -> bytes:
    flag = (chunk is not None) if flags is None else flags
    return struct.pack(">4sBBHI", b"\x00CHB", version, flag, 0, len(body)) + body + (chunk or b"")


def test_layout_is_the_documented_one() -> None:
    packet = make_packet(2)
    value = encode_binary(packet, CHUNK)
    assert value[:4] == b"\x00CHB" and value[4] == 1 and value[5] == 1 and value[6:8] == b"\0\0"
    (n,) = struct.unpack(">I", value[8:12])
    assert HEADER_SIZE == 12
    assert value[12 : 12 + n] == encode_packet(packet)  # the JSON fields, no data_chunk
    assert value[12 + n :] == CHUNK


@pytest.mark.parametrize("chunk", [None, b"", CHUNK, b"\0" * MAX_CHUNK_BYTES])
def test_round_trip(chunk: bytes | None) -> None:
    packet = make_packet(5)
    got, raw = decode_binary(encode_binary(packet, chunk))
    assert got == packet and raw == chunk


def test_a_base64_chunk_is_carried_as_its_bytes_and_comes_back_equal() -> None:
    packet = make_packet(1, chunk=chunk_bytes(CHUNK))
    value = encode_binary(packet)
    assert value.endswith(CHUNK) and b"data_chunk" not in value
    assert decode_binary_packet(value) == packet
    assert decode_record(value, packet_headers("binary")) == packet


def test_every_json_rule_holds_in_the_fields() -> None:
    bad = encode_packet(make_packet(2)).replace(b'"node_to_hub"', b'"sideways"')
    with pytest.raises(PacketError) as info:
        decode_binary(build(bad, CHUNK))
    assert info.value.field == "$.routeType"
    no_zone = encode_packet(make_packet(2)).replace(b".002Z", b"")
    with pytest.raises(PacketError, match="timezone"):
        decode_binary(build(no_zone, None))


def test_chunk_limits_on_encode_and_decode() -> None:
    with pytest.raises(PacketError, match="over the limit"):
        encode_binary(make_packet(1), b"\0" * (MAX_CHUNK_BYTES + 1))
    with pytest.raises(PacketError, match="over the limit") as info:
        decode_binary(build(FIELDS, b"\0" * (MAX_CHUNK_BYTES + 1)))
    assert info.value.field == "$.data_chunk"
    with pytest.raises(PacketError, match="given twice"):
        encode_binary(make_packet(1, chunk="AAEC"), b"x")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"\x00CHB\x01", "truncated: 5 bytes, shorter than its 12-byte header"),
        (build(FIELDS, CHUNK)[:20], "truncated: its fields claim"),
        (build(FIELDS, None, version=2), "layout version 2 is not supported"),
        (build(FIELDS, None, flags=6), "unknown binary header flags"),
        (build(FIELDS, None) + b"junk", "header says no chunk follows"),
        (b"\x01CHB" + build(FIELDS, None)[4:], "not a binary packet"),
        (build(b"{not json", None), "not valid JSON"),
        (build(encode_packet(make_packet(1, chunk="AAEC")), None), "not allowed in a binary"),
    ],
)
def test_truncated_or_garbled_values_are_named(value: bytes, message: str) -> None:
    with pytest.raises(PacketError, match=message):
        decode_binary(value)


def test_a_json_reader_says_binary_instead_of_failing_on_bytes() -> None:
    value = encode_binary(make_packet(1), CHUNK)
    with pytest.raises(PacketError, match=re.escape(f"a binary packet ({BINARY_CONTENT_TYPE})")):
        decode_packet(value)


def test_decode_record_goes_by_content_type() -> None:
    packet = make_packet(3)
    as_json, as_binary = encode_packet(packet), encode_binary(packet)
    assert decode_record(as_json, packet_headers()) == packet
    assert decode_record(as_json, None) == packet  # no headers: the spec's JSON
    assert decode_record(as_binary, {"content-type": BINARY_CONTENT_TYPE.encode()}) == packet
    with pytest.raises(PacketError, match="the value is not binary"):
        decode_record(as_json, packet_headers("binary"))
    with pytest.raises(PacketError, match="a binary packet"):
        decode_record(as_binary, [("content-type", CONTENT_TYPE.encode())])
    with pytest.raises(PacketError, match="unknown content-type 'text/csv'"):
        decode_record(as_json, [("content-type", b"text/csv")])
    with pytest.raises(PacketError, match="empty record"):
        decode_record(b"", None)


def test_headers_name_the_encoding() -> None:
    assert dict(packet_headers("binary"))["content-type"] == BINARY_CONTENT_TYPE.encode()
    assert dict(packet_headers())["content-type"] == b"application/json"
    assert msgspec.json.decode(encode_packet(make_packet(0)))  # JSON stays the default


def test_the_encoding_setting_and_its_bad_values() -> None:
    assert KafkaSettings().encoding == "json"
    assert KafkaSettings.from_env({"HORIZONS_ENCODING": "Binary"}).encoding == "binary"
    assert KafkaSettings().with_overrides(encoding="binary").encoding == "binary"
    with pytest.raises(ConfigError, match="HORIZONS_ENCODING='msgpack': expected json or binary"):
        KafkaSettings.from_env({"HORIZONS_ENCODING": "msgpack"})
    with pytest.raises(ConfigError, match="--encoding xml: expected json or binary"):
        KafkaSettings().with_overrides(encoding="xml")


def test_publisher_encodes_by_its_encoding_without_a_broker() -> None:
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    packet = make_packet(4)
    binary = Publisher(settings, encoding="binary", check_topic=False)
    json_pub = Publisher(settings, check_topic=False)
    try:
        assert binary.encoding == "binary" and json_pub.encoding == "json"
        assert binary._encode(packet, CHUNK) == encode_binary(packet, CHUNK)
        as_json = json_pub._encode(packet, CHUNK)
        assert decode_packet(as_json).chunk() == CHUNK  # raw bytes given, base64 written
        values, total = binary._encode_many([packet, packet], [CHUNK, None])
        assert values == [encode_binary(packet, CHUNK), encode_binary(packet)]
        assert total == sum(map(len, values))
        values, total = json_pub._encode_many([packet], None)
        assert values[0] == encode_packet(packet) and total == len(values[0])
    finally:
        binary.close(0.1)
        json_pub.close(0.1)
