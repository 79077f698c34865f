"""``/api/brokers/metrics``: the brokers' JMX exporters read back (an exporter-format endpoint
on loopback stands in for one; the real exporters are in tests/cluster/test_rebalance.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cosmic_horizons.api import ApiState, create_app
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.errors import ConfigError
from cosmic_horizons.monitor import Monitor
from cosmic_horizons.scaling.exporter import BrokerMetricsReader, broker_metrics_urls
from tests.unit.exporter_endpoint import exporter_endpoint

TOTALS = {"in": 1000.0}


def exporter_text() -> str:
    return (
        "# TYPE kafka_server_bytes_in counter\n"
        f"kafka_server_bytes_in_total {TOTALS['in']}\n"
        "# TYPE kafka_server_bytes_out counter\n"
        "kafka_server_bytes_out_total 500.0\n"
        "# TYPE kafka_server_under_replicated_partitions gauge\n"
        "kafka_server_under_replicated_partitions 2.0\n"
    )


@pytest.fixture
def exporter_url() -> Iterator[str]:
    with exporter_endpoint(exporter_text) as url:
        yield url


def state(reader: BrokerMetricsReader) -> ApiState:
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    return ApiState(
        settings=settings, monitor=Monitor(settings, timeout=1.0), broker_metrics=reader
    )


def test_bytes_and_under_replicated_per_broker(exporter_url: str) -> None:
    dead = "http://127.0.0.1:1/metrics"
    client = TestClient(
        create_app(state(BrokerMetricsReader((exporter_url, dead), min_interval=0)))
    )
    first = client.get("/api/brokers/metrics").json()
    assert first["configured"] is True and first["underReplicated"] == 2
    up, down = first["brokers"]
    assert up["up"] and up["bytesInTotal"] == 1000.0 and up["bytesInPerSec"] is None
    assert not down["up"] and down["error"]
    TOTALS["in"] = 3000.0
    second = client.get("/api/brokers/metrics").json()
    assert second["brokers"][0]["bytesInPerSec"] > 0


def test_without_urls_the_panel_is_off() -> None:
    client = TestClient(create_app(state(BrokerMetricsReader(()))))
    assert client.get("/api/brokers/metrics").json() == {
        "configured": False,
        "brokers": [],
        "underReplicated": None,
        "scrapedAt": None,
    }


def test_a_bad_url_is_a_settings_error() -> None:
    env = {"HORIZONS_BROKER_METRICS": "http://b0:9404/metrics, b1:9404"}
    with pytest.raises(ConfigError, match="HORIZONS_BROKER_METRICS: 'b1:9404' is not"):
        broker_metrics_urls(env)
