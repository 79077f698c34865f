"""The archiver exactly-once on three nodes: a node SIGKILLed and restarted while it
archives, and the archiver itself SIGKILLed between storing a file and committing it.

Afterwards every offset of the topic is in the archive exactly once: ``horizons archive
verify`` exits 0, and reading the files back gives each (partition, offset) once.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.kafka_local import LocalKafkaCluster
from cosmic_horizons.publisher import Publisher
from tests.broker.test_archiver import _archiver_cmd, _spawn, assert_exactly_once
from tests.cluster.faults import (
    horizons_json,
    note,
    packet,
    prod_settings,
    prod_topic,
    start_nodes,
    time_until,
    unique_name,
)
from tests.helpers import consume_all

RECORDS = 3000
GROUP = "crash-test"  # the group _archiver_cmd runs in


def coordinator_of(bootstrap: str, group: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    [future] = admin.describe_consumer_groups([group], request_timeout=10).values()
    return int(future.result(15).coordinator.id)


@pytest.mark.timeout(300)
def test_archive_exactly_once_through_a_node_bounce_and_an_archiver_sigkill(
    all_nodes_up: LocalKafkaCluster, tmp_path: Path, output_dir: Path
) -> None:
    cluster, bootstrap = all_nodes_up, all_nodes_up.bootstrap
    topic = unique_name("archive")
    prod_topic(bootstrap, topic)
    with Publisher(prod_settings(bootstrap, topic)) as pub:
        assert pub.publish_many([packet(n) for n in range(RECORDS)]) == RECORDS
        assert pub.flush(60) == 0
    expected = {
        (m.partition(), m.offset()): (m.key(), m.value())
        for m in consume_all(bootstrap, topic, RECORDS)
    }
    archive = tmp_path / "archive"
    storage = ArchiveStorage(archive.as_uri())
    log = output_dir / "archiver.log"
    log.unlink(missing_ok=True)
    # Small files: the run lasts long enough for a node to die in the middle of it.
    cmd = _archiver_cmd(bootstrap, topic, archive, "--flush-at-end", "--stop-at-end")
    cmd[cmd.index("--max-records") + 1] = "40"

    # 1. The archiver kills itself right after storing its second file, before the commit.
    proc = _spawn(cmd, log, "write:2")
    assert proc.wait(120) == -signal.SIGKILL, log.read_text()[-3000:]
    files_at_crash = len(storage.list_files(topic))

    # 2. A new archiver; the group's coordinator node is SIGKILLed while it archives.
    proc = _spawn(cmd, log)
    try:
        started = time_until(
            lambda: len(storage.list_files(topic)) >= files_at_crash + 3 or proc.poll() is not None,
            90,
        )
        assert started is not None and proc.poll() is None, log.read_text()[-3000:]
        victim = coordinator_of(bootstrap, f"{GROUP}")
        files_at_kill = len(storage.list_files(topic))
        cluster.kill(victim)
        killed_at = time.monotonic()
        time.sleep(3)
        restart = start_nodes(cluster, [victim])
        code = proc.wait(180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run_s = time.monotonic() - killed_at
    assert code == 0, log.read_text()[-4000:]
    files = assert_exactly_once(storage, topic, expected)
    assert files_at_kill < len(files), "the archiver finished before the node was killed"

    code, report = horizons_json(
        "archive", "verify", "--storage", archive.as_uri(), "--topic", topic
    )
    assert code == 0, report
    assert report["ok"] is True and report["rows"] == RECORDS
    note(
        "archiver_bounce", files=len(files), files_at_crash=files_at_crash,
        files_at_kill=files_at_kill, killed_node=victim, restart_s=restart,
        finished_after_kill_s=run_s,
    )  # fmt: skip
