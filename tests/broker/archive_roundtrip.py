"""The exactly-once check of the archiver, shared by the object-store tests (s3://, gs://)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

from cosmic_horizons.archiver.fileformat import decode_parquet, records_from_table
from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.archiver.verify import verify_archive
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.packet import decode_packet
from tests.broker.test_replay import archive, cli, packets, publish
from tests.helpers import consume_all, create_topic


def archive_holds_every_packet_once(
    settings: KafkaSettings, url: str, object_keys: Callable[[], list[str]]
) -> None:
    """Archive a 3-partition topic into ``url`` (``scheme://bucket/prefix``) and check it.

    ``object_keys`` lists the bucket's keys straight from the store, not through fsspec.
    The archive must hold every produced packet exactly once, pass verify, and serve the
    read commands (ls, verify, replay).
    """
    bootstrap = settings.bootstrap_servers or ""
    create_topic(bootstrap, settings.topic, partitions=3)
    items = packets(180)
    publish(settings, items)
    produced = consume_all(bootstrap, settings.topic, len(items))
    expected = {(m.partition(), m.offset()): m.value() for m in produced}

    archive(settings, ArchiveStorage(url), max_records=20)

    # The objects are really in the bucket, under the prefix.
    keys = object_keys()
    assert keys and all(k.startswith(f"prefix/{settings.topic}/date=2026-11-27/") for k in keys)

    # Read back through ArchiveStorage: every produced packet exactly once.
    store = ArchiveStorage(url)
    files = store.list_files(settings.topic)
    assert len(files) == len(keys)
    seen: Counter[tuple[int, int]] = Counter()
    for f in files:
        for record in records_from_table(decode_parquet(store.read(f.path))):
            coordinates = (record.partition, record.offset)
            seen[coordinates] += 1
            assert f.start_offset <= record.offset <= f.end_offset
            assert record.packet == decode_packet(expected[coordinates] or b"")
    assert set(seen) == set(expected)
    assert all(n == 1 for n in seen.values())

    report = verify_archive(store, topic=settings.topic)
    assert report.ok, report
    assert report.rows == len(items)

    # The read commands work on the object store too.
    result = cli("archive", "ls", "--storage", url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["rows"] == len(items)
    result = cli("archive", "verify", "--storage", url, "--topic", settings.topic, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True
    result = cli(
        "archive", "replay", "--from", "2026-11-27", "--to", "2026-11-28",
        "--source", settings.topic, "--to-stdout", "--storage", url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [decode_packet(line) for line in result.stdout.splitlines()] == items
