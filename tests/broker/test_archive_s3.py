"""The archive on a real S3 endpoint (moto in server mode on loopback), through s3fs."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from cosmic_horizons.broker import find_free_port
from cosmic_horizons.config import KafkaSettings
from tests.broker.archive_roundtrip import archive_holds_every_packet_once

pytestmark = pytest.mark.s3

BUCKET = "horizons-archive"


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto S3 server on a free loopback port; the AWS variables point at it."""
    port = find_free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto keeps its buckets per process, not per server: start from none (a run on both
    # engines would otherwise see the other engine's archive).
    httpx.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
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
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    archive_holds_every_packet_once(
        settings,
        f"s3://{BUCKET}/prefix",
        lambda: [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]],
    )
