"""Which partition a keyed record goes to: the partitioners a mixed producer fleet needs.

Records with the same key must land on the same partition whoever produced them, so the
publisher has to place keys the way the other producers of the topic do:

``java``
    Kafka's Java client (``DefaultPartitioner``/``BuiltInPartitioner``), KafkaJS's
    ``DefaultPartitioner`` (formerly ``JavaCompatiblePartitioner``) and librdkafka's
    ``murmur2_random``: ``(murmur2(key) & 0x7fffffff) % partitions``. The default.
``kafkajs-legacy``
    KafkaJS's ``Partitioners.LegacyPartitioner``, the spec's choice. It runs the same murmur2
    steps in JavaScript numbers: the multiplications are done in 64-bit floating point
    (rounded, not wrapped to 32 bits), and the main loop runs ``ceil(len / 4)`` times, the
    last round reading missing bytes as 0. Most keys therefore hash differently from Java.
    librdkafka has no such partitioner: the publisher computes it and passes the partition.
``consistent_random``
    librdkafka's default for its own clients (and confluent-kafka's): ``crc32(key) %
    partitions``; empty and missing keys go to a random partition.

Records without a key (and, for ``consistent_random``, with an empty key) go to a partition
of the client's choosing in every case.
"""

from __future__ import annotations

import zlib
from typing import Final, Literal

from .errors import ConfigError

__all__ = [
    "DEFAULT_PARTITIONER",
    "PARTITIONERS",
    "PartitionerName",
    "java_murmur2",
    "kafkajs_legacy_murmur2",
    "librdkafka_partitioner",
    "parse_partitioner",
    "partition_for",
]

PartitionerName = Literal["java", "kafkajs-legacy", "consistent_random"]
PARTITIONERS: Final[tuple[PartitionerName, ...]] = ("java", "kafkajs-legacy", "consistent_random")
DEFAULT_PARTITIONER: Final[PartitionerName] = "java"

_SEED: Final = 0x9747B28C
_M: Final = 0x5BD1E995
_MASK: Final = 0xFFFFFFFF


def parse_partitioner(value: str, *, source: str = "partitioner") -> PartitionerName:
    """One of :data:`PARTITIONERS`; anything else is a :class:`ConfigError` naming ``source``."""
    name = value.strip().lower()
    for known in PARTITIONERS:
        if name == known:
            return known
    raise ConfigError(f"{source}={value!r}: expected one of {', '.join(PARTITIONERS)}")


def librdkafka_partitioner(name: PartitionerName) -> str:
    """The librdkafka ``partitioner`` setting for ``name``.

    ``kafkajs-legacy`` records carry their partition; librdkafka's ``murmur2_random`` then only
    places records without a key (randomly, as KafkaJS spreads them).
    """
    return "consistent_random" if name == "consistent_random" else "murmur2_random"


def _signed(h: int) -> int:
    h &= _MASK
    return h - (1 << 32) if h & 0x80000000 else h


def java_murmur2(key: bytes) -> int:
    """Kafka's ``Utils.murmur2`` (32-bit murmur2, seed 0x9747b28c), as a signed 32-bit int."""
    length = len(key)
    h = (_SEED ^ length) & _MASK
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(key[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length % 4
    if rest == 3:
        h ^= key[whole + 2] << 16
    if rest >= 2:
        h ^= key[whole + 1] << 8
    if rest >= 1:
        h ^= key[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return _signed(h)


def _int32(x: float | int) -> int:
    """ECMAScript ToInt32 of an integral number."""
    return _signed(int(x))


def _times_m(x: int) -> float:
    """``x * M`` in JavaScript: a 64-bit float product, rounded to nearest."""
    return float(x) * float(_M)


def kafkajs_legacy_murmur2(key: bytes) -> int:
    """The hash of KafkaJS's ``LegacyPartitioner``, as a signed 32-bit int.

    ``h`` and ``k`` are JavaScript numbers: ``*=`` gives a float, and the bitwise operators
    that follow take it modulo 2**32 (ToInt32/ToUint32) after the float has been rounded.
    """
    length = len(key)
    h: float | int = _int32(_SEED) ^ length  # int32 after ^
    rounds = -(-length // 4)  # `for (i = 0; i < length / 4; i++)`: ceil, not floor
    for i in range(rounds):
        chunk = key[i * 4 : i * 4 + 4]  # bytes past the end read as undefined & 0xff == 0
        b0 = chunk[0]
        b1 = chunk[1] if len(chunk) > 1 else 0
        b2 = chunk[2] if len(chunk) > 2 else 0
        b3 = chunk[3] if len(chunk) > 3 else 0
        k: float | int = b0 + (b1 << 8) + (b2 << 16) + _int32(b3 << 24)
        k = _times_m(int(k))
        k = _int32(k) ^ ((int(k) & _MASK) >> 24)
        k = _times_m(k)
        h = _times_m(int(h))
        h = _int32(h) ^ _int32(k)
    rest = length % 4
    whole = length & ~3
    if rest == 3:
        h = _int32(h) ^ (key[whole + 2] << 16)
    if rest >= 2:
        h = _int32(h) ^ (key[whole + 1] << 8)
    if rest >= 1:
        h = _int32(h) ^ key[whole]
        h = _times_m(int(h))
    h = _int32(h) ^ ((int(h) & _MASK) >> 13)
    h = _times_m(h)
    h = _int32(h) ^ ((int(h) & _MASK) >> 15)
    return h


def partition_for(name: PartitionerName, key: bytes, partitions: int) -> int | None:
    """The partition ``name`` puts ``key`` on; None where it picks one at random."""
    if partitions < 1:
        raise ValueError(f"partition count must be at least 1, not {partitions}")
    if name == "java":
        return (java_murmur2(key) & 0x7FFFFFFF) % partitions
    if name == "kafkajs-legacy":
        return (kafkajs_legacy_murmur2(key) & 0x7FFFFFFF) % partitions
    if not key:
        return None
    return zlib.crc32(key) % partitions
