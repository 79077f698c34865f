"""``archive run --json``: the final lag is measured at the stop, not at the last refresh."""

from __future__ import annotations

from pathlib import Path

import msgspec
from confluent_kafka import Producer
from typer.testing import CliRunner

from cosmic_horizons.cli.archive import lag_at_stop
from cosmic_horizons.cli.main import app
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.packet import encode_packet
from tests.helpers import create_topic, make_packet

runner = CliRunner()


def packet_records(n: int) -> list[tuple[bytes, bytes]]:
    return [(p.element_id.encode(), encode_packet(p)) for p in map(make_packet, range(n))]


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for key, value in records:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def test_final_stats_show_zero_lag_once_everything_is_archived(
    bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    create_topic(bootstrap, topic_name, 2)
    _produce(bootstrap, topic_name, packet_records(2500))
    group = f"final-{topic_name[-8:]}"
    args = ["archive", "run", "-b", bootstrap, "-t", topic_name, "--group", group]
    args += ["--storage", (tmp_path / "a").as_uri(), "--stop-at-end", "--workers", "0"]
    args += ["--max-records", "500", "--session-timeout", "6s", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    stats = msgspec.json.decode(result.stdout)
    assert stats["rows"] == 2500
    assert stats["lag"] == 0, stats["partitions"]
    assert [p["lag"] for p in stats["partitions"]] == [0, 0]
    assert "lag 0 at stop" in result.stderr

    # More records after the stop: measured again, the lag is exactly what was not archived.
    _produce(bootstrap, topic_name, packet_records(40))
    from cosmic_horizons.archiver.archiver import ArchiverStats

    settings = KafkaSettings(bootstrap_servers=bootstrap, topic=topic_name)
    again = lag_at_stop(settings, msgspec.convert(stats, ArchiverStats))
    assert again.lag == 40


def test_final_lag_is_unknown_when_the_broker_cannot_be_asked(tmp_path: Path) -> None:
    from cosmic_horizons.archiver.archiver import ArchiverStats, PartitionStats
    from cosmic_horizons.broker import find_free_port

    stats = ArchiverStats(
        topic="element.raw_data",
        group="g",
        storage="file:///x",
        rows=1,
        files=1,
        bytes=1,
        dead_letters=0,
        lost_offsets=0,
        consumed=1,
        rate=0.0,
        partitions=[PartitionStats(partition=0, last_archived_offset=0, buffered=0, lag=1334)],
        lag=1334,
        last_error=None,
        started_at=0.0,
        uptime_s=1.0,
    )
    nobody = KafkaSettings(bootstrap_servers=f"127.0.0.1:{find_free_port()}")
    out = lag_at_stop(nobody, stats)
    assert out.lag is None and out.partitions[0].lag is None  # not the stale 1,334
