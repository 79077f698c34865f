"""The ``KafkaPayload`` packet of the spec: model, validation, JSON encode/decode, JSON Schema
(timestamps and base64 in :mod:`.packet_fields`).

Python attributes are snake_case; on the wire the fields keep the spec's exact names
(``sourceId``, ``routeType``, ``metrics.powerUsage``, ``data_chunk``...). Encoding and
decoding use msgspec, which validates types while it parses; the rules msgspec cannot
express (RFC 3339 timestamp, finite numbers, base64, size limits) run in
``__post_init__``, so a packet built in Python is checked exactly like one decoded from JSON.
Where the C extension ``_packetcheck`` is built, ``__post_init__`` is its check, which accepts
the usual packet at once and hands every other case to the Python rules here.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import msgspec

from .errors import PacketError
from .packet_fields import (
    TIMESTAMP_FORM,
    _brief,
    _check_base64,
    _decode_base64,
    _timestamp_ms,
    _timestamp_ms_cache,
    chunk_bytes,
    timestamp_ok,
)

try:  # the usual packet's checks in C, built by `pip install` where a compiler is
    from . import _packetcheck
except ImportError:  # pragma: no cover - a build without a C compiler
    _packetcheck = None  # type: ignore[assignment]

__all__ = [
    "BINARY_CONTENT_TYPE",
    "BINARY_MAGIC",
    "CONTENT_TYPE",
    "ENCODINGS",
    "MAX_DATA_CHUNK_CHARS",
    "SCHEMA_VERSION",
    "TIMESTAMP_FORM",
    "Encoding",
    "KafkaPayload",
    "Metrics",
    "RouteType",
    "chunk_bytes",
    "decode_packet",
    "encode_each",
    "encode_lines",
    "encode_packet",
    "fast_checks_built",
    "json_schema",
    "packet_headers",
    "timestamp_ok",
]

#: Value of the ``content-type`` record header.
CONTENT_TYPE: Final = "application/json"
#: ``content-type`` of the binary form (:mod:`cosmic_horizons.packet_binary`, docs/packet.md).
BINARY_CONTENT_TYPE: Final = "application/vnd.cosmic-horizons.packet+binary"
#: The first four bytes of every binary packet (no JSON text starts with a NUL byte).
BINARY_MAGIC: Final = b"\x00CHB"
#: A packet's two encodings on the wire: the spec's JSON, or fields and raw chunk bytes.
Encoding = Literal["json", "binary"]
ENCODINGS: Final[tuple[Encoding, ...]] = ("json", "binary")
#: Value of the ``schema-version`` record header; bump on incompatible changes.
SCHEMA_VERSION: Final = "1"
#: Largest accepted ``data_chunk`` (base64 characters): 768 KiB keeps a whole packet well below
#: the broker's default ``message.max.bytes`` (1 MiB).
MAX_DATA_CHUNK_CHARS: Final = 768 * 1024
#: Longest accepted identifier (sourceId, targetId, elementId, siteId).
MAX_ID_CHARS: Final = 256

RouteType = Literal["node_to_hub", "hub_to_hub"]
_ROUTE_TYPES: Final = frozenset(("node_to_hub", "hub_to_hub"))

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)]
_TIMESTAMP_PATTERN: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
)


def _metrics_checks(self: Metrics) -> None:
    """Metrics' rules (the C checks hand over every case they do not take at once)."""
    v, p, n, r = self.vibration, self.power_usage, self.noise_floor, self.rfi_level
    # Fast path: four floats whose sum is finite are each finite.
    if (
        v.__class__ is float
        and p.__class__ is float
        and n.__class__ is float
        and r.__class__ is float
        and math.isfinite(v + p + n + r)
    ):
        return
    for attr, name, value in (
        ("vibration", "vibration", v),
        ("power_usage", "powerUsage", p),
        ("noise_floor", "noiseFloor", n),
        ("rfi_level", "rfiLevel", r),
    ):
        if value.__class__ is not float:
            # An int (as JSON's 1850 decodes to 1850.0) or a float subclass (numpy's
            # float64) is stored as the plain float decoding would give; a bool is not a
            # number here, as in JSON.
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise PacketError(
                    f"$.metrics.{name}", f"expected a number, got {type(value).__name__}"
                )
            try:
                as_float = float(value)
            except OverflowError:
                raise PacketError(
                    f"$.metrics.{name}",
                    f"number out of range (beyond ±{sys.float_info.max!r}): {_brief(value)}",
                ) from None
            msgspec.structs.force_setattr(self, attr, as_float)
            value = as_float
        if not math.isfinite(value):
            raise PacketError(f"$.metrics.{name}", f"must be a finite number, got {value!r}")


def _payload_checks(self: KafkaPayload) -> None:
    """The packet's rules past msgspec's types (the C checks likewise hand over the rest)."""
    src, tgt, elem, site = self.source_id, self.target_id, self.element_id, self.site_id
    if not (
        src.__class__ is str
        and tgt.__class__ is str
        and elem.__class__ is str
        and site.__class__ is str
        and 0 < len(src) <= MAX_ID_CHARS
        and 0 < len(tgt) <= MAX_ID_CHARS
        and 0 < len(elem) <= MAX_ID_CHARS
        and 0 < len(site) <= MAX_ID_CHARS
        and src.isascii()
        and tgt.isascii()
        and elem.isascii()
        and site.isascii()
    ):
        _check_ids(src, tgt, elem, site)
    route = self.route_type
    if route.__class__ is not str or route not in _ROUTE_TYPES:
        raise PacketError(
            "$.routeType", f"expected 'node_to_hub' or 'hub_to_hub', got {_brief(route)}"
        )
    if self.metrics.__class__ is not Metrics:
        raise PacketError("$.metrics", f"expected Metrics, got {type(self.metrics).__name__}")
    stamp = self.timestamp
    if stamp.__class__ is not str or stamp not in _timestamp_ms_cache:
        _timestamp_ms(stamp)
    chunk = self.data_chunk
    if chunk is not None:
        if chunk.__class__ is not str:
            raise PacketError("$.data_chunk", f"expected a string, got {type(chunk).__name__}")
        if len(chunk) > MAX_DATA_CHUNK_CHARS:
            raise PacketError(
                "$.data_chunk",
                f"{len(chunk)} characters is over the limit of {MAX_DATA_CHUNK_CHARS}",
            )
        _check_base64(chunk)


class Metrics(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Sensor readings of one element at one instant."""

    vibration: Annotated[
        float, msgspec.Meta(description="Accelerometer reading, RMS acceleration in g")
    ]
    power_usage: Annotated[float, msgspec.Meta(description="Power draw in watts (W)")] = (
        msgspec.field(name="powerUsage")
    )
    noise_floor: Annotated[float, msgspec.Meta(description="Receiver noise floor in dBm")] = (
        msgspec.field(name="noiseFloor")
    )
    rfi_level: Annotated[
        float, msgspec.Meta(description="Radio-frequency interference level in dBm")
    ] = msgspec.field(name="rfiLevel")

    if TYPE_CHECKING:

        def __post_init__(self) -> None: ...

    else:
        __post_init__ = _packetcheck.check_metrics if _packetcheck else _metrics_checks


class KafkaPayload(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One telemetry packet from one array element (one Kafka record)."""

    source_id: Annotated[Id, msgspec.Meta(description="Sender, element-{site}-{n} or site-{n}")] = (
        msgspec.field(name="sourceId")
    )
    target_id: Annotated[Id, msgspec.Meta(description="Receiving hub, site-{n}")] = msgspec.field(
        name="targetId"
    )
    route_type: Annotated[RouteType, msgspec.Meta(description="Routing classification")] = (
        msgspec.field(name="routeType")
    )
    element_id: Annotated[Id, msgspec.Meta(description="Physical element (antenna) id")] = (
        msgspec.field(name="elementId")
    )
    site_id: Annotated[Id, msgspec.Meta(description="Observatory site id")] = msgspec.field(
        name="siteId"
    )
    timestamp: Annotated[
        str,
        msgspec.Meta(
            description="Time of the reading, RFC 3339: YYYY-MM-DDTHH:MM:SS[.fraction] then Z or "
            "±HH:MM",
            extra_json_schema={"format": "date-time", "pattern": _TIMESTAMP_PATTERN},
        ),
    ]
    metrics: Metrics
    data_chunk: (
        Annotated[
            str,
            msgspec.Meta(
                description="Base64-encoded visibility chunk (complex64 samples)",
                max_length=MAX_DATA_CHUNK_CHARS,
            ),
        ]
        | None
    ) = None

    if TYPE_CHECKING:

        def __post_init__(self) -> None: ...

    else:
        __post_init__ = _packetcheck.check_payload if _packetcheck else _payload_checks

    def timestamp_ms(self) -> int:
        """The packet timestamp as Unix epoch milliseconds (the Kafka record timestamp)."""
        ms = _timestamp_ms_cache.get(self.timestamp)
        return ms if ms is not None else _timestamp_ms(self.timestamp)

    def chunk(self) -> bytes | None:
        """The visibility chunk as bytes, or None."""
        return None if self.data_chunk is None else _decode_base64(self.data_chunk)


def _check_ids(*values: str) -> None:
    for name, value in zip(("sourceId", "targetId", "elementId", "siteId"), values, strict=True):
        if value.__class__ is not str:
            raise PacketError(f"$.{name}", f"expected a string, got {type(value).__name__}")
        if not 0 < len(value) <= MAX_ID_CHARS:
            raise PacketError(f"$.{name}", f"must be 1 to {MAX_ID_CHARS} characters long")
        _check_unicode(name, value)


def _check_unicode(name: str, value: str) -> None:
    """A lone surrogate cannot be written as UTF-8 JSON (nor be decoded from it)."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise PacketError(
                f"$.{name}", f"not valid Unicode: lone surrogate at character {exc.start}"
            ) from None


if _packetcheck is not None:
    _packetcheck.setup(
        KafkaPayload,
        (
            "source_id",
            "target_id",
            "route_type",
            "element_id",
            "site_id",
            "timestamp",
            "metrics",
            "data_chunk",
        ),
        Metrics,
        ("vibration", "power_usage", "noise_floor", "rfi_level"),
        _payload_checks,
        _metrics_checks,
        _timestamp_ms_cache,
        ("node_to_hub", "hub_to_hub"),
        MAX_ID_CHARS,
        MAX_DATA_CHUNK_CHARS,
    )


def fast_checks_built() -> bool:
    """Were the packet's usual checks built in C (else they run in Python)?"""
    return _packetcheck is not None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(KafkaPayload)

#: msgspec's own encoder: the reference the C writer's bytes are tested against.
msgspec_encode_packet: Callable[[KafkaPayload], bytes] = _encoder.encode
#: Several packets as JSON lines, one packet per line, each line ending in a newline.
encode_lines: Callable[[Sequence[KafkaPayload]], bytes] = _encoder.encode_lines


def _encode_each_msgspec(packets: Sequence[KafkaPayload]) -> list[bytes]:
    """:data:`encode_each` by msgspec alone (a build without the C writer)."""
    # One JSON document per line; JSON strings never hold a raw newline.
    return encode_lines(packets).split(b"\n")[:-1]


if _packetcheck is not None:
    _packetcheck.setup_json(
        tuple(f.encode_name for f in msgspec.structs.fields(KafkaPayload)),
        tuple(f.encode_name for f in msgspec.structs.fields(Metrics)),
        _encoder.encode,
    )
    #: The packet as the spec's JSON: msgspec's bytes, written by the C writer for the usual
    #: packet (a C function: no wrapper on the hot path) and by msgspec for the rest.
    encode_packet: Callable[[KafkaPayload], bytes] = _packetcheck.encode_json
    #: Several packets' JSON values, one ``bytes`` each.
    encode_each: Callable[[Sequence[KafkaPayload]], list[bytes]] = _packetcheck.encode_json_many
else:  # pragma: no cover - a build without a C compiler
    encode_packet = _encoder.encode
    encode_each = _encode_each_msgspec


def decode_packet(data: bytes | memoryview | str) -> KafkaPayload:
    """Parse and validate one JSON packet; raises :class:`PacketError` naming the field."""
    try:
        return _decoder.decode(data)
    except msgspec.ValidationError as exc:
        if isinstance(exc.__cause__, PacketError):
            raise exc.__cause__ from None
        raise _packet_error(str(exc)) from None
    except msgspec.DecodeError as exc:
        if not isinstance(data, str) and bytes(data[:4]) == BINARY_MAGIC:
            raise PacketError(
                "$",
                f"a binary packet ({BINARY_CONTENT_TYPE}), not JSON: read it by its "
                "content-type header (cosmic_horizons.packet_binary.decode_record)",
            ) from None
        raise PacketError("$", f"not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise PacketError("$", f"not valid UTF-8: {exc.reason} at byte {exc.start}") from None


def _packet_error(message: str) -> PacketError:
    # msgspec says "Expected `str`, got `int` - at `$.sourceId`" or "Object missing required
    # field `siteId` - at `$.metrics`"; turn that into (field, reason).
    reason, sep, where = message.rpartition(" - at `")
    if not sep:
        reason, where = message, "$"
    else:
        where = where.rstrip("`")
    if reason.startswith("Object missing required field `"):
        missing = reason.split("`")[1]
        return PacketError(f"{where}.{missing}", "required field is missing")
    return PacketError(where, reason[:1].lower() + reason[1:])


def packet_headers(encoding: Encoding = "json") -> list[tuple[str, bytes]]:
    """Record headers naming the value's content type (by ``encoding``) and schema version."""
    content_type = BINARY_CONTENT_TYPE if encoding == "binary" else CONTENT_TYPE
    return [("content-type", content_type.encode()), ("schema-version", SCHEMA_VERSION.encode())]


def json_schema() -> dict[str, Any]:
    """The packet's JSON Schema (draft 2020-12), with units in the metric descriptions."""
    schema: dict[str, Any] = msgspec.json.schema(KafkaPayload)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "KafkaPayload"
    schema["description"] = (
        "One telemetry packet from one array element on topic element.raw_data "
        f"(schema version {SCHEMA_VERSION})."
    )
    return schema
