"""The packet's JSON writer in C writes exactly msgspec's bytes, and hands msgspec what it does
not take."""

from __future__ import annotations

import math
import random
import struct

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from msgspec.structs import force_setattr, replace

from cosmic_horizons import packet
from cosmic_horizons.packet import (
    KafkaPayload,
    Metrics,
    chunk_bytes,
    decode_packet,
    encode_each,
    encode_packet,
    fast_checks_built,
    msgspec_encode_packet,
)
from tests.helpers import make_packet

pytestmark = pytest.mark.skipif(not fast_checks_built(), reason="built without a C compiler")


def _fast(p: object) -> bytes | None:
    from cosmic_horizons import _packetcheck

    return _packetcheck.encode_json_fast(p)


def _with_metrics(*values: float) -> KafkaPayload:
    v, p, n, r = values
    return replace(
        make_packet(7), metrics=Metrics(vibration=v, power_usage=p, noise_floor=n, rfi_level=r)
    )


def test_encode_packet_is_the_c_writer() -> None:
    assert type(packet.encode_packet).__name__ == "builtin_function_or_method"
    p = make_packet(3)
    assert _fast(p) == msgspec_encode_packet(p) == encode_packet(p)


def test_the_usual_packet_takes_the_c_path_with_and_without_a_chunk() -> None:
    for p in (make_packet(1), make_packet(2, chunk=chunk_bytes(b"\x00\x01\x02" * 50))):
        assert _fast(p) is not None
        assert _fast(p) == msgspec_encode_packet(p)
    assert b"data_chunk" not in encode_packet(make_packet(1))  # None is left out, as msgspec does


# Full-precision readings (17 significant digits) are the usual output of a sensor's
# arithmetic: the C path takes them too, not only the short decimals of the simulator.
FLOATS_IN_RANGE = [
    0.0,
    -0.0,
    1.0,
    -97.88,
    1971.6,
    0.1 + 0.2,
    1 / 3,
    2.0**49 + 0.5,
    999999999999999.9,
    1e-4,
    math.nextafter(1e-4, 1.0),
    123456789012345.6,
    0.013780000000000001,
]


@pytest.mark.parametrize("x", FLOATS_IN_RANGE)
def test_a_float_in_the_plain_range_is_written_by_c_alike(x: float) -> None:
    assert x == 0.0 or 1e-4 <= abs(x) < 1e15
    p = _with_metrics(x, -x, 1.0, 2.5)
    assert _fast(p) == msgspec_encode_packet(p)


@pytest.mark.parametrize("x", [1e-5, 1e-7, 5e-324, 1e15, 1e16, 1.5e20, 1.7976931348623157e308])
def test_a_float_outside_it_goes_to_msgspec(x: float) -> None:
    p = _with_metrics(x, 1.0, 2.0, 3.0)
    assert _fast(p) is None
    assert encode_packet(p) == msgspec_encode_packet(p)


@pytest.mark.parametrize(
    ("attr", "value"),
    [
        ("source_id", 'element-"1"'),
        ("target_id", "site\\1"),
        ("element_id", "element\n1"),
        ("site_id", "sité-1"),
        ("timestamp", "2026-11-27T12:00:00\x7fZ"),  # DEL is written as it is: still C
    ],
)
def test_a_string_to_escape_goes_to_msgspec(attr: str, value: str) -> None:
    p = make_packet(4)
    force_setattr(p, attr, value)
    if "\x7f" in value:
        assert _fast(p) == msgspec_encode_packet(p)
    else:
        assert _fast(p) is None
    assert encode_packet(p) == msgspec_encode_packet(p)


def test_what_is_not_the_usual_packet_goes_to_msgspec() -> None:
    class Tagged(KafkaPayload, frozen=True, kw_only=True):
        tag: str = "x"

    base = make_packet(5)
    tagged = Tagged(**{f: getattr(base, f) for f in base.__struct_fields__}, tag="y")
    assert _fast(tagged) is None
    assert encode_packet(tagged) == msgspec_encode_packet(tagged)
    assert b'"tag":"y"' in encode_packet(tagged)
    odd = make_packet(6)
    force_setattr(odd.metrics, "vibration", 3)  # an int slipped past the checks
    assert _fast(odd) is None
    assert encode_packet(odd) == msgspec_encode_packet(odd)
    assert encode_packet({"a": 1.5}) == b'{"a":1.5}'  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode_packet(object())  # type: ignore[arg-type]


def test_encode_each_mixes_both_paths_in_order() -> None:
    packets = [make_packet(i) for i in range(40)]
    force_setattr(packets[3], "site_id", "sité")
    packets[9] = _with_metrics(1e-9, 1.0, 2.0, 3.0)
    assert _fast(packets[3]) is None and _fast(packets[9]) is None
    assert encode_each(packets) == [msgspec_encode_packet(p) for p in packets]
    assert encode_each(tuple(packets[:3])) == [msgspec_encode_packet(p) for p in packets[:3]]
    assert encode_each([]) == []
    # the path of a build without the C writer gives the same values
    assert packet._encode_each_msgspec(packets) == encode_each(packets)
    assert packet._encode_each_msgspec([]) == []


def test_many_random_doubles_match_msgspec() -> None:
    """Random bit patterns, random decimals and scaled integers: 60,000 floats."""
    rng = random.Random(1)
    values: list[float] = []
    while len(values) < 20_000:
        x = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(x):
            values.append(x)
    values += [round(rng.uniform(-1e6, 1e6), rng.randint(0, 12)) for _ in range(20_000)]
    values += [rng.randint(1, 10**17) / 10 ** rng.randint(0, 20) for _ in range(20_000)]
    taken = 0
    for i in range(0, len(values), 4):
        p = _with_metrics(*values[i : i + 4])
        fast = _fast(p)
        if fast is not None:
            taken += 1
            assert fast == msgspec_encode_packet(p), values[i : i + 4]
    assert taken > 7_000  # most of the decimals and scaled integers took the C path


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=400, deadline=None)
@given(st.tuples(finite, finite, finite, finite))
@example((0.1, 1971.6, -97.88, -91.32))
@example((9.999999999999999e14, 1.0000000000000002e-4, 4503599627370497.0, 0.5))
def test_fuzz_any_finite_floats_are_written_as_msgspec_writes_them(
    values: tuple[float, float, float, float],
) -> None:
    p = _with_metrics(*values)
    assert encode_packet(p) == msgspec_encode_packet(p)
    assert decode_packet(encode_packet(p)) == p


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=30))
def test_fuzz_any_strings_are_written_as_msgspec_writes_them(ident: str, stamp: str) -> None:
    p = make_packet(8)
    force_setattr(p, "source_id", ident)
    force_setattr(p, "timestamp", stamp)
    try:
        expected = msgspec_encode_packet(p)
    except msgspec.EncodeError:  # a lone surrogate: neither writer takes it
        with pytest.raises(msgspec.EncodeError):
            encode_packet(p)
        return
    assert encode_packet(p) == expected
