"""The archiver's checkpoint callback: a range's dead letters, then its file, then its commit."""

from __future__ import annotations

from pathlib import Path

from cosmic_horizons.archiver.archiver import Archiver, Checkpoint, RollPolicy
from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.config import KafkaSettings
from tests.broker.test_archiver import FAST, group_of, packet_records, produce
from tests.broker.test_archiver_edges import run_archiver
from tests.helpers import create_topic


def test_checkpoints_come_in_the_exactly_once_order(
    settings: KafkaSettings, bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    create_topic(bootstrap, topic_name, 1)
    records = packet_records(10)
    records[2] = (b"k", b"{not json")  # a dead letter in the first range only
    produce(bootstrap, topic_name, records)
    storage = ArchiveStorage(tmp_path.as_uri())
    points: list[tuple[Checkpoint, int]] = []
    archiver = Archiver(
        settings,
        storage,
        group=group_of("checkpoint", topic_name),
        roll=RollPolicy(max_records=5),
        flush_at_end=True,
        stop_at_end=True,
        checkpoint=lambda p: points.append((p, len(storage.list_files(topic_name)))),
        **FAST,
    )
    stats = run_archiver(archiver)
    assert not isinstance(stats, BaseException), stats
    # (point, files stored when it was reached): the dead letters go before the file
    assert points == [("dlq", 0), ("write", 1), ("commit", 1), ("write", 2), ("commit", 2)]
