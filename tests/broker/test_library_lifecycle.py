"""The public objects' lifecycles on a real broker: context managers, close(), Archiver.stop()."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from cosmic_horizons import (
    Archiver,
    ArchiverStats,
    ArchiveStorage,
    HorizonsError,
    KafkaSettings,
    Monitor,
    Publisher,
    RollPolicy,
    TopicAdmin,
)
from tests.helpers import create_topic, make_packet, wait_for


def test_archiver_run_in_a_thread_stops_from_the_main_thread(
    settings: KafkaSettings, bootstrap: str, tmp_path: Path
) -> None:
    create_topic(bootstrap, settings.topic)
    with Publisher(settings) as publisher:
        assert publisher.publish_many([make_packet(i) for i in range(20)]) == 20
        assert publisher.flush(30) == 0
    storage = ArchiveStorage(str(tmp_path))
    archiver = Archiver(
        settings,
        storage,
        group=f"lifecycle-{settings.topic}",
        roll=RollPolicy(max_records=10),
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    done: list[ArchiverStats] = []
    thread = threading.Thread(target=lambda: done.append(archiver.run()))
    thread.start()
    try:
        # two full ranges of 10: both stored while the archiver keeps running
        wait_for(lambda: len(storage.list_files(settings.topic)) >= 2, "two archive files", 90)
        assert thread.is_alive()
        with pytest.raises(RuntimeError, match="already running"):
            archiver.run()
        archiver.stop()  # from the main thread
        thread.join(60)
        assert not thread.is_alive(), "stop() did not end run()"
    finally:
        archiver.close(60)
    assert done and done[0].rows == 20
    assert archiver.close(1) is True  # idempotent, nothing running any more


def test_archiver_close_as_context_manager_exit_stops_a_running_archiver(
    settings: KafkaSettings, bootstrap: str, tmp_path: Path
) -> None:
    create_topic(bootstrap, settings.topic)
    done: list[Any] = []
    with Archiver(
        settings,
        ArchiveStorage(str(tmp_path)),
        group=f"lifecycle-cm-{settings.topic}",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    ) as archiver:
        thread = threading.Thread(target=lambda: done.append(archiver.run()))
        thread.start()
        wait_for(lambda: archiver.stats().partitions, "an assignment", 60)
    # __exit__ stopped it and waited for run() to return
    assert not thread.is_alive()
    assert done


def test_every_object_closes_through_its_context_manager(
    settings: KafkaSettings, bootstrap: str, tmp_path: Path
) -> None:
    create_topic(bootstrap, settings.topic)
    with Publisher(settings) as publisher:
        assert publisher.publish(make_packet(1))
    report = publisher.close()  # a second close is harmless and reports the same counts
    assert report.delivered == 1 and report.undelivered_at_close == 0
    with TopicAdmin(settings) as admin:
        assert admin.exists(settings.topic)
    with pytest.raises(HorizonsError, match="topic admin is closed"):
        admin.exists(settings.topic)
    with Monitor(settings) as monitor:
        assert monitor.poll().connected
    assert monitor.poll().connected is False
    with ArchiveStorage(str(tmp_path)) as storage:
        assert storage.list_files() == []
    with pytest.raises(HorizonsError, match="is closed"):
        storage.list_files()
