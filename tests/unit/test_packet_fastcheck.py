"""The packet's checks in C reject exactly what the Python checks reject, with the same error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import force_setattr

from cosmic_horizons import packet
from cosmic_horizons.errors import PacketError
from cosmic_horizons.packet import KafkaPayload, Metrics, chunk_bytes, fast_checks_built
from tests.helpers import make_packet

pytestmark = pytest.mark.skipif(not fast_checks_built(), reason="built without a C compiler")


def _outcome(check: object, obj: object) -> tuple[str, str] | None:
    try:
        check(obj)  # type: ignore[operator]
    except PacketError as exc:
        return (exc.field, exc.reason)
    return None


def _both(obj: KafkaPayload | Metrics) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    from cosmic_horizons import _packetcheck

    if isinstance(obj, Metrics):
        return _outcome(_packetcheck.check_metrics, obj), _outcome(packet._metrics_checks, obj)
    return _outcome(_packetcheck.check_payload, obj), _outcome(packet._payload_checks, obj)


def test_the_c_checks_are_the_post_init() -> None:
    assert type(KafkaPayload.__dict__["__post_init__"]).__name__ == "builtin_function_or_method"
    assert type(Metrics.__dict__["__post_init__"]).__name__ == "builtin_function_or_method"


BAD_PAYLOAD_FIELDS = [
    ("source_id", ""),
    ("source_id", "x" * 257),
    ("source_id", 7),
    ("target_id", "site-\ud800"),
    ("element_id", b"element-1-1"),
    ("site_id", None),
    ("route_type", "node_to_node"),
    ("route_type", 1),
    ("timestamp", "2026-11-27T12:00:00"),
    ("timestamp", "2026-02-30T12:00:00Z"),
    ("timestamp", "2026-11-27 12:00:00Z"),
    ("timestamp", 1_796_000_000),
    ("metrics", {"vibration": 1.0}),
    ("data_chunk", "abcde"),
    ("data_chunk", "ab=c"),
    ("data_chunk", "===="),
    ("data_chunk", "é" * 8),
    ("data_chunk", "A" * (packet.MAX_DATA_CHUNK_CHARS + 4)),
    ("data_chunk", 12),
]


@pytest.mark.parametrize(("attr", "value"), BAD_PAYLOAD_FIELDS)
def test_a_bad_field_fails_alike(attr: str, value: object) -> None:
    p = make_packet(3, chunk=chunk_bytes(b"\x00\x01\x02"))
    force_setattr(p, attr, value)
    fast, slow = _both(p)
    assert slow is not None, f"the Python checks accept {attr}={value!r}"
    assert fast == slow


GOOD_PAYLOAD_FIELDS = [
    ("source_id", "élément-1-1"),  # not ASCII: the Python checks decide, and accept
    ("route_type", "hub_to_hub"),
    ("route_type", "".join(["node", "_to_hub"])),  # equal, not the same object
    ("timestamp", "2031-01-02T03:04:05.678+05:30"),  # not cached yet
    ("data_chunk", None),
    ("data_chunk", ""),
    ("data_chunk", "AQI-"),  # URL-safe: accepted by the Python checks
    ("data_chunk", "AQI"),  # unpadded: likewise
]


@pytest.mark.parametrize(("attr", "value"), GOOD_PAYLOAD_FIELDS)
def test_a_good_field_passes_both(attr: str, value: object) -> None:
    p = make_packet(3)
    force_setattr(p, attr, value)
    assert _both(p) == (None, None)


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), -float("inf"), True, "1.0", None, 10**400]
)
def test_bad_metrics_fail_alike(value: object) -> None:
    m = Metrics(vibration=0.1, power_usage=1.0, noise_floor=2.0, rfi_level=3.0)
    force_setattr(m, "noise_floor", value)
    fast, slow = _both(m)
    assert slow is not None
    assert fast == slow


def test_floats_whose_sum_overflows_are_still_accepted() -> None:
    m = Metrics(vibration=1.5e308, power_usage=1.5e308, noise_floor=0.0, rfi_level=0.0)
    assert m.power_usage == 1.5e308
    m = Metrics(vibration=1, power_usage=2, noise_floor=3, rfi_level=4)  # ints become floats
    assert m.vibration.__class__ is float


_text = st.text(max_size=12) | st.sampled_from(["AAAA", "AA==", "A===", "QUJD", "node_to_hub"])


@settings(max_examples=150, deadline=None)
@given(attr=st.sampled_from(["source_id", "route_type", "timestamp", "data_chunk"]), value=_text)
def test_fuzz_the_c_checks_never_accept_what_python_rejects(attr: str, value: str) -> None:
    p = make_packet(1)
    force_setattr(p, attr, value)
    fast, slow = _both(p)
    assert fast == slow
