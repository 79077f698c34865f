"""The partitioners against vectors computed by the libraries they imitate.

tests/vectors/kafkajs_partitions.json holds, for ~1,700 keys and 9 partition counts, the
partition KafkaJS 2.2.4 itself chose with its LegacyPartitioner and its DefaultPartitioner
(Java-compatible); tests/vectors/kafkajs_partitions.js made it (the command is in the file).
librdkafka's placement (murmur2_random, consistent_random) is checked on the broker, in
tests/broker/test_publisher.py.
"""

from __future__ import annotations

import json
import zlib
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.errors import ConfigError
from cosmic_horizons.partitioner import (
    PARTITIONERS,
    PartitionerName,
    java_murmur2,
    kafkajs_legacy_murmur2,
    librdkafka_partitioner,
    parse_partitioner,
    partition_for,
)

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "kafkajs_partitions.json"


@cache
def vectors() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(VECTORS.read_text())
    return doc


def keys() -> list[bytes]:
    doc = vectors()
    return [k.encode() for k in doc["text_keys"]] + [bytes.fromhex(h) for h in doc["byte_keys_hex"]]


def expected(which: str, count: int) -> list[int]:
    entry = vectors()[which][str(count)]
    return [*entry["text"], *entry["bytes"]]


def test_vectors_come_from_kafkajs_and_cover_the_keys_asked_for() -> None:
    doc = vectors()
    assert doc["kafkajs_version"] == "2.2.4"
    assert "node tests/vectors/kafkajs_partitions.js" in doc["generated_by"]
    assert doc["partition_counts"] == [1, 2, 3, 4, 5, 7, 12, 16, 100]
    texts = doc["text_keys"]
    for s in range(1, 6):
        for n in range(1, 264):
            assert f"element-{s}-{n}" in texts
    assert "" in texts
    assert any(not t.isascii() for t in texts)
    assert len(doc["byte_keys_hex"]) == 100


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 12, 16, 100])
def test_kafkajs_legacy_matches_kafkajs_legacy_partitioner(count: int) -> None:
    got = [partition_for("kafkajs-legacy", k, count) for k in keys()]
    assert got == expected("legacy", count)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 12, 16, 100])
def test_java_matches_kafkajs_default_partitioner(count: int) -> None:
    got = [partition_for("java", k, count) for k in keys()]
    assert got == expected("default", count)


def test_legacy_and_java_disagree_on_most_element_keys() -> None:
    # Why the choice matters: on the spec's 3-partition prod topic most keys move.
    elements = [f"element-{s}-{n}".encode() for s in range(1, 6) for n in range(1, 11)]
    moved = sum(
        partition_for("java", e, 3) != partition_for("kafkajs-legacy", e, 3) for e in elements
    )
    assert moved > 20


def test_java_murmur2_matches_kafkas_own_test_values() -> None:
    # Kafka's UtilsTest.testMurmur2.
    assert java_murmur2(b"21") == -973932308
    assert java_murmur2(b"foobar") == -790332482
    assert java_murmur2(b"a-little-bit-long-string") == -985981536
    assert java_murmur2(b"a-little-bit-longer-string") == -1486304829
    assert java_murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971
    assert java_murmur2(b"abc") == 479470107


def test_legacy_hash_is_not_javas() -> None:
    # The float products lose low bits that Java's 32-bit wrap-around keeps.
    assert kafkajs_legacy_murmur2(b"element-1-1") != java_murmur2(b"element-1-1")
    assert kafkajs_legacy_murmur2(b"") != java_murmur2(b"")


def test_consistent_random_is_crc32_and_random_for_empty_keys() -> None:
    assert partition_for("consistent_random", b"element-1-1", 7) == zlib.crc32(b"element-1-1") % 7
    assert partition_for("consistent_random", b"", 7) is None
    with pytest.raises(ValueError, match="at least 1"):
        partition_for("java", b"k", 0)


def test_librdkafka_setting_for_each_partitioner() -> None:
    assert librdkafka_partitioner("java") == "murmur2_random"
    assert librdkafka_partitioner("consistent_random") == "consistent_random"
    # legacy records carry their partition; keyless ones are placed at random.
    assert librdkafka_partitioner("kafkajs-legacy") == "murmur2_random"


@pytest.mark.parametrize("name", PARTITIONERS)
def test_partitioner_names_parse(name: PartitionerName) -> None:
    assert parse_partitioner(f" {name.upper()} ") == name


def test_unknown_partitioner_is_one_clear_error_naming_the_allowed_values() -> None:
    with pytest.raises(ConfigError) as err:
        KafkaSettings.from_env({"HORIZONS_PARTITIONER": "legacy"})
    assert str(err.value) == (
        "HORIZONS_PARTITIONER='legacy': expected one of java, kafkajs-legacy, consistent_random"
    )
    with pytest.raises(ConfigError, match="--partitioner='murmur2'"):
        KafkaSettings().with_overrides(partitioner="murmur2")


def test_partitioner_setting_from_env_and_override() -> None:
    assert KafkaSettings.from_env({}).partitioner == "java"
    env = {"HORIZONS_PARTITIONER": "kafkajs-legacy"}
    settings = KafkaSettings.from_env(env)
    assert settings.partitioner == "kafkajs-legacy"
    assert settings.with_overrides(partitioner="consistent_random").partitioner == (
        "consistent_random"
    )
