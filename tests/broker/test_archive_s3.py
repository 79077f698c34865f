"""The archive on a real S3 endpoint (moto in server mode on loopback), through s3fs."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from cosmic_horizons.archiver.layout import decode_parquet, records_from_table
from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.archiver.verify import verify_archive
from cosmic_horizons.broker import find_free_port
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.packet import decode_packet
from tests.broker.test_replay import archive, cli, packets, publish
from tests.helpers import consume_all, create_topic

pytestmark = pytest.mark.s3

BUCKET = "horizons-archive"


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto S3 server on a free loopback port; the AWS variables point at it."""
    port = find_free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()


def test_archive_on_s3_holds_every_packet_exactly_once(
    s3_endpoint: str, settings: KafkaSettings
) -> None:
    bootstrap = settings.bootstrap_servers or ""
    create_topic(bootstrap, settings.topic, partitions=3)
    items = packets(180)
    publish(settings, items)
    produced = consume_all(bootstrap, settings.topic, len(items))
    expected = {(m.partition(), m.offset()): m.value() for m in produced}

    url = f"s3://{BUCKET}/prefix"
    archive(settings, ArchiveStorage(url), max_records=20)

    # The objects are really in the bucket, under the prefix.
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys and all(k.startswith(f"prefix/{settings.topic}/date=2026-11-27/") for k in keys)

    # Read back through ArchiveStorage (s3fs): every produced packet exactly once.
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

    # The read commands work on s3:// too.
    result = cli("archive", "ls", "--storage", url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["rows"] == len(items)
    result = cli(
        "archive", "replay", "--from", "2026-11-27", "--to", "2026-11-28",
        "--source", settings.topic, "--to-stdout", "--storage", url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [decode_packet(line) for line in result.stdout.splitlines()] == items
