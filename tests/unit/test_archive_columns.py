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
import struct

import numpy as np
import pytest

from cosmic_horizons.archiver import _columns
from cosmic_horizons.archiver.decode import (
    PackedValues,
    decode_range,
    decode_range_python,
    fast_path_built,
)
from cosmic_horizons.archiver.layout import encode_parquet
from cosmic_horizons.packet import MAX_DATA_CHUNK_CHARS, MAX_ID_CHARS, encode_packet
from tests.helpers import make_packet


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
    want, want_errors = decode_range_python("t", 1, *args, keys, values)
    for given in (values, pack(values)):
        got, got_errors = decode_range("t", 1, *args, keys, given)
        assert [(i, str(e)) for i, e in got_errors] == [(i, str(e)) for i, e in want_errors]
        assert got.to_pylist() == want.to_pylist()
        assert encode_parquet(got) == encode_parquet(want)  # -0.0, NaN bits and all


def pack(values: list[bytes | None]) -> PackedValues:
    sizes = np.array([-1 if v is None else len(v) for v in values], np.int64)
    return PackedValues(b"".join(v for v in values if v), sizes)


def test_the_fast_path_is_built_and_takes_canonical_packets() -> None:
    assert fast_path_built(), "the C extension was not built (is a C compiler installed?)"
    values = [encode_packet(make_packet(i, chunk="QUJD" if i % 2 else None)) for i in range(50)]
    ok, strings, floats, chunks, n_ok = _columns.split(values, MAX_DATA_CHUNK_CHARS)
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
        _columns.split_packed(b"abc", np.array([2, 2], np.int64), MAX_DATA_CHUNK_CHARS)
