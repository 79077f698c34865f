"""The binary encoding end to end on the broker: published, consumed, archived (the bad
records to the dead-letter topic), replayed and read back equal."""

from __future__ import annotations

import json
import time
from pathlib import Path

import msgspec
from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition
from typer.testing import CliRunner

from cosmic_horizons.archiver.fileformat import decode_parquet, records_from_table
from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.cli.main import app
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.packet import BINARY_CONTENT_TYPE, KafkaPayload, chunk_bytes, decode_packet
from cosmic_horizons.packet_binary import decode_binary, encode_binary
from cosmic_horizons.publisher import Publisher
from cosmic_horizons.topics.models import dlq_topic_name
from tests.broker.test_archiver import run_to_end
from tests.helpers import create_topic, fast_consumer, make_packet

COUNT = 30
ONE_BY_ONE = {"linger.ms": 0, "batch.num.messages": 1, "enable.idempotence": True, "acks": "all"}


def read_all(bootstrap: str, topic: str, expected: int) -> list[Message]:
    """The first ``expected`` records of partition 0, assigned (no group join: seconds less)."""
    consumer = fast_consumer(bootstrap)
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got: list[Message] = []
    deadline = time.monotonic() + 60
    try:
        while len(got) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                got.append(msg)
    finally:
        consumer.close()
    assert len(got) == expected, f"read {len(got)} of {expected} from {topic}"
    return got


def chunk_of(i: int) -> bytes | None:
    return None if i % 5 == 0 else bytes([i]) * (i * 97)


def test_binary_packets_published_consumed_archived_replayed(
    settings: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    bootstrap = settings.bootstrap_servers or ""
    create_topic(bootstrap, topic_name, 1)
    packets = [make_packet(i) for i in range(COUNT)]
    chunks = [chunk_of(i) for i in range(COUNT)]
    bad = [encode_binary(make_packet(90), b"xyz")[:20], b"\x00CHB\x07" + b"\0" * 20]
    with Publisher(settings, encoding="binary", extra_config=ONE_BY_ONE) as pub:
        for n, value in enumerate(bad):  # first: `consume --max-messages` then sees them
            assert pub.publish_encoded(b"bad%d" % n, value)
        assert pub.publish_many(packets[:20], chunks[:20]) == 20
        for packet, chunk in zip(packets[20:], chunks[20:], strict=True):
            assert pub.publish(packet, chunk)
    assert pub.close().complete
    expected = [
        p if c is None else msgspec.structs.replace(p, data_chunk=chunk_bytes(c))
        for p, c in zip(packets, chunks, strict=True)
    ]

    records = read_all(bootstrap, topic_name, COUNT + 2)
    assert {dict(m.headers() or [])["content-type"] for m in records} == {
        BINARY_CONTENT_TYPE.encode()
    }
    assert [decode_binary(m.value() or b"") for m in records[2:]] == list(
        zip(packets, chunks, strict=True)
    )

    runner = CliRunner()
    shown = runner.invoke(
        app,
        ["consume", "--partition", "0", "--from-beginning", "--max-messages", str(COUNT),
         "--bootstrap", bootstrap, "--topic", topic_name],
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert [decode_packet(line) for line in shown.stdout.splitlines()] == expected
    assert "binary packet truncated" in shown.stderr and "layout version 7" in shown.stderr

    storage = ArchiveStorage(tmp_path.as_uri())
    stats = run_to_end(settings, storage, workers=1)  # through the workers' shared memory
    rows = [
        r
        for f in storage.list_files(topic_name)
        for r in records_from_table(decode_parquet(storage.read(f.path)))
    ]
    assert [r.packet for r in rows] == expected
    assert stats.dead_letters == 2
    dead = read_all(bootstrap, dlq_topic_name(topic_name), 2)
    assert [m.value() for m in dead] == bad  # as they came, with their own headers
    for m in dead:
        headers = dict(m.headers() or [])
        assert headers["content-type"] == BINARY_CONTENT_TYPE.encode()
        assert headers["error.field"] == b"$"

    dest = f"{topic_name}.replayed"
    create_topic(bootstrap, dest, 1)
    replayed = runner.invoke(
        app,
        ["archive", "replay", "--from", "2026-11-27", "--to", "2026-11-28", "--source",
         topic_name, "--topic", dest, "--storage", tmp_path.as_uri(), "--bootstrap", bootstrap,
         "--encoding", "binary", "--json"],
    )  # fmt: skip
    assert replayed.exit_code == 0, replayed.output
    assert json.loads(replayed.stdout.splitlines()[-1])["delivered"] == COUNT
    back = read_all(bootstrap, dest, COUNT)
    got: list[KafkaPayload] = []
    for m in back:
        assert dict(m.headers() or [])["content-type"] == BINARY_CONTENT_TYPE.encode()
        packet, chunk = decode_binary(m.value() or b"")
        got.append(packet if chunk is None else msgspec.structs.replace(
            packet, data_chunk=chunk_bytes(chunk)))  # fmt: skip
    assert sorted(got, key=lambda p: p.timestamp) == sorted(expected, key=lambda p: p.timestamp)


def test_produce_with_encoding_binary_sends_the_binary_form(
    settings: KafkaSettings, topic_name: str
) -> None:
    bootstrap = settings.bootstrap_servers or ""
    create_topic(bootstrap, topic_name, 1)
    packet = make_packet(3, chunk=chunk_bytes(b"\x01\x02\x03"))
    result = CliRunner().invoke(
        app,
        ["produce", "-", "--encoding", "binary", "--bootstrap", bootstrap, "--topic", topic_name],
        input=msgspec.json.encode(packet) + b"\n",
    )
    assert result.exit_code == 0, result.output
    (msg,) = read_all(bootstrap, topic_name, 1)
    assert dict(msg.headers() or [])["content-type"] == BINARY_CONTENT_TYPE.encode()
    assert decode_binary(msg.value() or b"") == (
        msgspec.structs.replace(packet, data_chunk=None),
        b"\x01\x02\x03",
    )
    bad = CliRunner().invoke(app, ["produce", "-", "--encoding", "xml", "--bootstrap", bootstrap])
    assert bad.exit_code == 2 and "--encoding xml: expected json or binary" in bad.output
