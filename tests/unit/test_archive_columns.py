"""The archiver's C fast path agrees with the msgspec path on every record, byte for byte.

The C code only takes packets in their canonical form (this project's encoding) and must
produce exactly what msgspec + the Python checks produce for them; everything else it must
decline, so that the msgspec path decides. These tests compare both paths on canonical
packets, on edge cases written canonically, and on thousands of random mutations.
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosmic_horizons.archiver import _columns
from cosmic_horizons.archiver.decode import (
    PackedValues,
    decode_range,
    decode_range_python,
    fast_path_built,
)
from cosmic_horizons.archiver.fileformat import encode_parquet
from cosmic_horizons.archiver.records import RecordRange
from cosmic_horizons.errors import PacketError
from cosmic_horizons.packet import MAX_DATA_CHUNK_CHARS, MAX_ID_CHARS, decode_packet, encode_packet
from tests.helpers import make_packet
from tests.unit.test_packet import ACCEPTED_TIMESTAMPS, REJECTED_TIMESTAMPS, TIMESTAMP_PARTS


def canonical(doc: dict[str, object]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


GOOD = json.loads(encode_packet(make_packet(3, chunk=base64.b64encode(b"\x00\xfe\xff").decode())))


def variant(**changes: object) -> bytes:
    return canonical({k: v for k, v in {**GOOD, **changes}.items() if v is not ...})


def metrics(**changes: object) -> dict[str, object]:
    return {**GOOD["metrics"], **changes}


def both(values: list[bytes | None]) -> None:
    """decode_range (C where it can) and the msgspec path give the same rows, errors, file."""
    n = len(values)
    args = ([100 + i for i in range(n)], [1_795_780_800_000 + i for i in range(n)])
    keys = [f"k{i}".encode() for i in range(n)]
    want, want_errors = decode_range_python(RecordRange("t", 1, *args, keys, values))
    for source in (values, pack(values)):
        got, got_errors = decode_range(RecordRange("t", 1, *args, keys, source))
        assert [(i, str(e)) for i, e in got_errors] == [(i, str(e)) for i, e in want_errors]
        assert got.to_pylist() == want.to_pylist()
        assert encode_parquet(got) == encode_parquet(want)  # -0.0, NaN bits and all


def pack(values: list[bytes | None]) -> PackedValues:
    sizes = np.array([-1 if v is None else len(v) for v in values], np.int64)
    return PackedValues(b"".join(v for v in values if v), sizes)


def test_the_fast_path_is_built_and_takes_canonical_packets() -> None:
    assert fast_path_built(), "the C extension was not built (is a C compiler installed?)"
    values = [encode_packet(make_packet(i, chunk="QUJD" if i % 2 else None)) for i in range(50)]
    ok, strings, floats, chunks, n_ok = _columns.split(values, MAX_DATA_CHUNK_CHARS, MAX_ID_CHARS)
    assert n_ok == 50 and ok == b"\x01" * 50
    offsets = np.frombuffer(strings[0][0], np.int32)
    assert strings[0][1][offsets[0] : offsets[1]] == b"element-1-0"
    assert np.frombuffer(floats[1], np.float64)[1] == make_packet(1).metrics.power_usage
    valid, _offsets, data = chunks
    assert valid[:2] == b"\x00\x01" and data[:3] == b"ABC"
    both(values)


EDGE_CASES: list[bytes | None] = [
    variant(),
    variant(data_chunk=None),
    variant(data_chunk=...),
    variant(data_chunk=""),
    variant(data_chunk="QQ=="),
    variant(data_chunk="QR=="),  # trailing bits set: binascii ignores them
    variant(data_chunk="QUI="),
    variant(data_chunk="QQ="),
    variant(data_chunk="QQ"),  # unpadded: lenient path
    variant(data_chunk="Q-_A"),  # URL-safe: lenient path
    variant(data_chunk="===="),
    variant(data_chunk="A==="),
    variant(data_chunk="QQ==QQ=="),
    variant(data_chunk="QU=D"),
    variant(data_chunk="A" * (MAX_DATA_CHUNK_CHARS + 4)),
    variant(data_chunk="A" * MAX_DATA_CHUNK_CHARS),
    variant(data_chunk=5),
    # The chunk ends at its first quote, and one pass checks and decodes it: anything else
    # before that quote is refused by the C path and left to decode_packet.
    variant(data_chunk='QU"D'),
    variant(data_chunk="QU\\D"),
    variant(data_chunk="QUJD\n"),
    variant(data_chunk="QUé="),
    variant(data_chunk="Q!=="),
    variant(data_chunk="QU!="),
    variant(data_chunk="QUJDQ!=="),
    variant(data_chunk="QUJD" * 100 + "!UJD"),
    variant(data_chunk="QUJD" * 100 + "QUI="),
    variant(sourceId=""),
    variant(sourceId="x" * MAX_ID_CHARS),
    variant(sourceId="x" * (MAX_ID_CHARS + 1)),
    variant(siteId="é" * MAX_ID_CHARS),
    variant(siteId="é" * (MAX_ID_CHARS + 1)),
    variant(elementId="🔭-antenna"),
    variant(elementId='quote " inside'),
    variant(elementId="back\\slash"),
    variant(elementId="tab\there"),
    variant(elementId="\u2028line"),
    variant(routeType="hub_to_hub"),
    variant(routeType="hub_to_node"),
    variant(timestamp="2026-11-27T12:00:00Z"),
    variant(timestamp="2026-02-30T12:00:00Z"),
    variant(timestamp="2026-11-27 12:00:00+00:00"),
    variant(timestamp="2026-11-27T12:00:00"),
    variant(timestamp="yesterday"),
    *(variant(timestamp=text) for text, _ms in ACCEPTED_TIMESTAMPS),
    *(variant(timestamp=text) for text in REJECTED_TIMESTAMPS),
    variant(metrics=metrics(vibration=1)),
    variant(metrics=metrics(vibration=-0.0)),
    variant(metrics=metrics(vibration=5e-324)),
    variant(metrics=metrics(vibration=1.7976931348623157e308)),
    variant(metrics=metrics(vibration=0.1 + 0.2)),
    variant(metrics=metrics(powerUsage=10**19)),
    variant(metrics=metrics(powerUsage=10**25)),
    variant(metrics=metrics(powerUsage=2**53 + 1)),
    variant(metrics=metrics(rfiLevel="high")),
    variant(metrics=metrics(rfiLevel=True)),
    variant(metrics=metrics(rfiLevel=None)),
    variant(metrics={"vibration": 1.0}),
    variant(metrics=None),
    variant(metrics=metrics(extra=1)),
    variant(unknown=1),
    canonical({k: GOOD[k] for k in reversed(list(GOOD))}),  # another field order
    encode_packet(make_packet(1)) + b" ",
    b" " + encode_packet(make_packet(1)),
    encode_packet(make_packet(1)).replace(b":", b": ", 1),
    encode_packet(make_packet(1)).replace(b"element", b"\\u0065lement", 1),
    encode_packet(make_packet(1))[:-1],
    encode_packet(make_packet(1)) + b"}",
    b"",
    None,
    b"{}",
    b"not json",
]

NUMBERS = [
    "0",
    "-0",
    "1",
    "-1",
    "0.5",
    "1e5",
    "1E5",
    "1e+5",
    "1e-5",
    "-1.25e-3",
    "123456789012345678",
    "1234567890123456789",
    "12345678901234567890",
    "0.000001",
    "9007199254740993",
    "1e22",
    "1e23",
    "1e-22",
    "1e-23",
    "4.9e-324",
    "2.2250738585072014e-308",
    "1e400",
    "-1e400",
    "1e-400",
    "01",
    "1.",
    ".5",
    "+1",
    "1e",
    "1e+",
    "--1",
    "0x10",
    "NaN",
    "Infinity",
    "3.141592653589793238462643383279",
    "17976931348623157e292",
    "1" * 40,
    "0." + "0" * 30 + "1",
    # Integer literals past 64 bits: the mantissa wraps modulo 2^64, and a multiple of 2^64
    # wraps to 0 (once archived as 0.0).
    str(2**53 - 1),
    str(2**53),
    str(2**63 - 1),
    str(2**63),
    str(-(2**63)),
    str(-(2**63) - 1),
    str(10**19 - 1),
    str(10**19),
    str(2**64 - 1),
    str(2**64),
    str(2**64 + 1),
    str(-(2**64)),
    str(3 * 2**64),
    str(2**64 * 10**5),
    str(2**128),
    str(2**192),
    "1" + "0" * 64,
    "-1" + "0" * 64,
    "1" + "0" * 308,
    "1" + "0" * 309,
    "1" + "0" * 400,
    "9" * 17,
    "9" * 18,
    "9" * 309,
    str(int(1.7976931348623157e308)),
    str(int(1.7976931348623157e308) + 2**969),  # halfway to the next power: rounds to inf
    str(int(1.7976931348623157e308) + 2**969 - 1),
    "0" + "0" * 20,  # not JSON: leading zeros
    # Decimals at the double's edges, with huge exponents and many digits.
    "1.7976931348623157e308",
    "-1.7976931348623157e308",
    "1.7976931348623158e308",
    "1.7976931348623159e308",
    "1.8e308",
    "-1.8e308",
    "179769313486231570000000000000000000000e270",
    "2.4703282292062327e-324",
    "2.4703282292062328e-324",
    "-1e-400",
    "-0e5",
    "0e-5",
    "0.0",
    "-0.0",
    "-0.000",
    "1e99999999999999999999",
    "1e-99999999999999999999",
    "-1e99999999999999999999",
    "1e0000000000000000000000000000000000000000000000000000000005",
    "1." + "0" * 400,
    "0." + "0" * 399 + "1",
    "1." + "9" * 400,
    "18446744073709551616.0",
    "18446744073709551616e0",
    "1844674407370955161.6e1",
]


@pytest.mark.parametrize("record", EDGE_CASES, ids=range(len(EDGE_CASES)))
def test_edge_cases_agree(record: bytes | None) -> None:
    both([encode_packet(make_packet(0)), record, encode_packet(make_packet(2))])


def test_numbers_agree_with_msgspec_bit_for_bit() -> None:
    template = encode_packet(make_packet(5)).decode()
    values = []
    for text in NUMBERS:
        doc = template.replace('"rfiLevel":-107.25', f'"rfiLevel":{text}')
        assert doc != template or text == "-107.25"
        values.append(doc.encode())
    rng = random.Random(7)
    for _ in range(2000):
        x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if math.isfinite(x):
            form = rng.choice(["{!r}", "{:.17g}", "{:.3e}", "{:.6f}", "{:.1f}"])
            values.append(template.replace("-107.25", form.format(x)).encode())
    both(values)


def rfi_level_of(text: str) -> bytes:
    template = encode_packet(make_packet(5)).decode()
    return template.replace('"rfiLevel":-107.25', f'"rfiLevel":{text}').encode()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(2**64, id="2^64"),
        pytest.param(-(2**64), id="-2^64"),
        pytest.param(5 * 2**64, id="5*2^64"),
        pytest.param(2**128, id="2^128"),
        pytest.param(10**64, id="10^64"),
        pytest.param(-(10**64), id="-10^64"),
        pytest.param(10**300, id="10^300"),
        pytest.param(10**308, id="10^308"),
        pytest.param(10**309, id="10^309"),
        pytest.param(10**400, id="10^400"),
    ],
)
def test_integers_beyond_64_bits_are_archived_as_their_value_or_refused(value: int) -> None:
    """float(value) when that is finite; else the record is refused, as decode_packet does."""
    n = 3
    table, errors = decode_range(
        RecordRange(
            "t",
            0,
            range(n),
            [0] * n,
            [None] * n,
            [
                encode_packet(make_packet(0)),
                rfi_level_of(str(value)),
                encode_packet(make_packet(2)),
            ],
        )
    )
    ok, _strings, floats, _chunks, _n = _columns.split(
        [rfi_level_of(str(value))], MAX_DATA_CHUNK_CHARS, MAX_ID_CHARS
    )
    try:
        want = float(value)
    except OverflowError:
        assert ok == b"\x00", "the C path took a number beyond the double's range"
        assert [(i, e.field, e.reason) for i, e in errors] == [
            (1, "$.metrics.rfiLevel", "number out of range")
        ]
        assert table.column("kafka_offset").to_pylist() == [0, 2]
    else:
        assert ok == b"\x00" or np.frombuffer(floats[3], np.float64)[0] == want
        assert errors == []
        assert table.column("rfiLevel").to_pylist()[1] == want


INTERESTING = b'"\\{}[],:0123456789eE.+- \n\t\x00\x7f\xc3\xa9\xed\xa0\x80\xf0\x9f\xff=/Aa_'


def mutate(rng: random.Random, value: bytes) -> bytes:
    data = bytearray(value)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(4)
        at = rng.randrange(len(data) + 1)
        if op == 0 and at < len(data):
            data[at] = rng.choice(INTERESTING)
        elif op == 1 and at < len(data):
            del data[at]
        elif op == 2:
            data[at:at] = bytes([rng.choice(INTERESTING)])
        else:
            end = min(len(data), at + rng.randint(1, 12))
            data[at:at] = data[at:end]
    return bytes(data)


@pytest.mark.parametrize("seed", range(4))
def test_random_mutations_agree(seed: int) -> None:
    rng = random.Random(seed)
    base = [
        encode_packet(make_packet(i, chunk=base64.b64encode(bytes([i]) * (i % 7)).decode() or None))
        for i in range(40)
    ]
    for _ in range(25):
        batch = [
            mutate(rng, rng.choice(base)) if rng.random() < 0.7 else rng.choice(base)
            for _ in range(40)
        ]
        both(batch)


def test_packed_sizes_that_do_not_add_up_are_refused() -> None:
    with pytest.raises(ValueError, match="add up"):
        PackedValues(b"abc", np.array([2, 2], np.int64))
    with pytest.raises(ValueError, match="add up"):
        _columns.split_packed(
            b"abc", np.array([2, 2], np.int64), MAX_DATA_CHUNK_CHARS, MAX_ID_CHARS
        )


# Property-based fuzzing of the C number parser against msgspec and against Python's own
# correctly rounded float(): bounded (a few seconds), new examples on every run, no
# example database written.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
METRIC_FIELDS = ("vibration", "powerUsage", "noiseFloor", "rfiLevel")
JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def digits(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=min_size, max_size=max_size)


SIGN = st.sampled_from(["", "-"])
#: Integer literals of 17 to 400 digits.
BIG_INTEGERS = st.builds(
    lambda sign, first, rest: sign + first + rest,
    SIGN,
    st.sampled_from("123456789"),
    digits(16, 399),
)
#: Multiples of 2^64, 2^128, ... and their neighbours: the mantissa wraps to 0 or near it.
WRAPPING = st.builds(
    lambda k, j, d: str(k * 2 ** (64 * j) + d),
    st.integers(-(10**6), 10**6).filter(bool),
    st.integers(1, 6),
    st.sampled_from([0, 0, 0, 1, -1, 2**53]),
)
#: Anything in JSON's number grammar: long fractions, huge and tiny exponents.
GRAMMAR = st.builds(
    lambda sign, whole, frac, exp: sign + whole + frac + exp,
    SIGN,
    st.one_of(st.just("0"), st.builds(str.__add__, st.sampled_from("123456789"), digits(0, 30))),
    st.one_of(st.just(""), st.builds(lambda d: "." + d, digits(1, 400))),
    st.one_of(
        st.just(""),
        st.builds(
            lambda e, sign, d: e + sign + d,
            st.sampled_from("eE"),
            st.sampled_from(["", "+", "-"]),
            st.one_of(digits(1, 3), digits(1, 25)),
        ),
    ),
)
FLOATS = st.builds(
    lambda x, form: form.format(x),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["{!r}", "{:.17g}", "{:.3e}", "{:.20e}", "{:.6f}", "{:.0f}"]),
)
#: Near-numbers: what the grammar refuses must be refused by both paths alike.
NEAR = st.text("0123456789eE.+-", min_size=1, max_size=30)
NUMBER_TEXTS = st.one_of(BIG_INTEGERS, WRAPPING, GRAMMAR, FLOATS, NEAR, st.sampled_from(NUMBERS))


def expected_number(text: str) -> float | None:
    """What a packet holds for this JSON number text (None: refused), by Python alone."""
    match = JSON_NUMBER.fullmatch(text)
    if match is None:
        return None
    if match.group(2) is None and match.group(3) is None:
        try:
            return float(int(text))  # an integer, -0 included, becomes the float of its value
        except OverflowError:
            return None
    value = float(text)
    return value if math.isfinite(value) else None


def metric_text(field: str, text: str) -> bytes:
    doc = encode_packet(make_packet(5)).decode()
    old = f'"{field}":' + json.dumps(GOOD_5["metrics"][field])
    assert old in doc
    return doc.replace(old, f'"{field}":{text}').encode()


GOOD_5 = json.loads(encode_packet(make_packet(5)))


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(METRIC_FIELDS), NUMBER_TEXTS), min_size=1, max_size=6))
def test_fuzz_numbers_c_path_against_python_path(cases: list[tuple[str, str]]) -> None:
    values: list[bytes | None] = [metric_text(field, text) for field, text in cases]
    both(values)
    table, _errors = decode_range(
        RecordRange("t", 0, range(len(values)), [0] * len(values), [None] * len(values), values)
    )
    archived = dict(zip(table.column("kafka_offset").to_pylist(), table.to_pylist(), strict=True))
    for i, (field, text) in enumerate(cases):
        want = expected_number(text)
        if want is None:
            assert i not in archived, f"{text!r} was archived as {archived[i][field]!r}"
            with pytest.raises(PacketError):
                decode_packet(values[i])  # type: ignore[arg-type]
        else:
            got = archived[i][field]
            assert struct.pack("<d", got) == struct.pack("<d", want), (text, got, want)


@FUZZ
@given(st.lists(TIMESTAMP_PARTS, min_size=1, max_size=6))
def test_fuzz_timestamps_c_path_against_python_path(texts: list[str]) -> None:
    both([variant(timestamp=text) for text in texts])
    both([encode_packet(make_packet(0)), *(variant(timestamp=text) for text in texts)])
