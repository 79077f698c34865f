"""The HTTP API against the embedded broker: every endpoint, its model, /metrics, readiness."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, TypeVar

import httpx
import msgspec
import pytest
from confluent_kafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from cosmic_horizons.api import ApiServer, ApiState, create_app
from cosmic_horizons.api.models import (
    DataPlaneUpdate,
    ErrorBody,
    LagReport,
    Liveness,
    Readiness,
    ServiceStats,
    TopicsReport,
)
from cosmic_horizons.array_view import ArraySnapshot, ArrayView
from cosmic_horizons.broker import find_free_port
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.monitor import Monitor
from cosmic_horizons.monitor.models import LAG_STATUSES, KafkaSnapshot
from cosmic_horizons.publisher import Publisher
from tests.helpers import create_topic, fast_consumer, make_packet, wait_for

T = TypeVar("T")
PRODUCED = 40
PARTITIONS = 2


class ArchiverStats(msgspec.Struct):
    rows: int
    files: int
    last_file: str | None


def get(client: httpx.Client, path: str, model: type[T], status: int = 200) -> T:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    return msgspec.json.decode(response.content, type=model)  # strict: validates the model


class Lagging(msgspec.Struct):
    group: str
    committed: dict[int, int]
    """Offset committed per partition (only partitions the group read from)."""


@pytest.fixture
def lagging_group(settings: KafkaSettings) -> Lagging:
    """A topic holding PRODUCED packets and a group that committed a few of them, then left."""
    create_topic(settings.bootstrap_servers or "", settings.topic, PARTITIONS)
    # One record per batch: the embedded broker's high watermark is then exact (see BRIEF).
    with Publisher(settings, extra_config={"linger.ms": 0, "batch.num.messages": 1}) as pub:
        for n in range(PRODUCED):
            pub.publish(make_packet(n))
        assert pub.flush(30) == 0
    group = f"test-api-lagging-{settings.topic[-8:]}"
    # A standalone consumer commits chosen offsets on both partitions, as a stopped consumer
    # would have left them (a group with lag and no members).
    committed = {0: 2, 1: 3}
    consumer = fast_consumer(settings.bootstrap_servers or "", group)
    consumer.assign([TopicPartition(settings.topic, p) for p in committed])
    consumer.commit(
        offsets=[TopicPartition(settings.topic, p, o) for p, o in committed.items()],
        asynchronous=False,
    )
    consumer.close()
    return Lagging(group, committed)


def expected_lag(snap: KafkaSnapshot, lagging: Lagging) -> int:
    """High watermark minus committed offset over the partitions the group committed on."""
    hwm = {p.partition: p.latest_offset or 0 for p in snap.partition_details or []}
    return sum(hwm[p] - offset for p, offset in lagging.committed.items())


@pytest.fixture
def served(
    settings: KafkaSettings, lagging_group: Lagging
) -> Iterator[tuple[httpx.Client, ApiState]]:
    publisher = Publisher(settings)
    publisher.publish(make_packet(PRODUCED, element="element-9-1"))
    assert publisher.flush(30) == 0
    state = ApiState(
        settings=settings,
        monitor=Monitor(settings, timeout=5.0),
        array=ArrayView(settings, from_beginning=True),
        publisher=publisher,
        extra_stats={
            "archiver": lambda: ArchiverStats(rows=1234, files=3, last_file="a.parquet"),
            "idle": lambda: None,
        },
        poll_interval=0.5,
        cluster_name="test",
    )
    server = ApiServer(create_app(state), port=0).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            yield client, state
    finally:
        server.stop()
        assert state.array is not None
        state.array.close()
        state.monitor.close()
        publisher.close()


def test_every_endpoint_answers_with_its_model(
    served: tuple[httpx.Client, ApiState], settings: KafkaSettings, lagging_group: Lagging
) -> None:
    client, _ = served
    total = PRODUCED + 1

    live = get(client, "/api/health", Liveness)
    assert live.status == "ok"
    assert live.poller_alive

    def all_produced() -> KafkaSnapshot | None:
        response = client.get("/api/messaging/snapshot")
        if response.status_code == 503:  # the first poll has not finished yet
            assert msgspec.json.decode(response.content, type=ErrorBody).detail
            return None
        snap = get(client, "/api/messaging/snapshot", KafkaSnapshot)
        return snap if snap.latest_offset == total else None

    snap = wait_for(all_produced, "the snapshot to count every packet")
    assert snap.connected
    assert snap.topic == settings.topic
    assert snap.partitions == PARTITIONS
    assert snap.partition_details is not None and len(snap.partition_details) == PARTITIONS
    want = expected_lag(snap, lagging_group)
    assert want == PRODUCED + 1 - sum(lagging_group.committed.values())

    # The poller fills the cache in the background; the group's lag shows once it is read.
    def lag_visible() -> LagReport | None:
        report = get(client, f"/api/messaging/lag?group={lagging_group.group}", LagReport)
        return report if report.groups and report.groups[0].total_lag == want else None

    report = wait_for(lag_visible, "the lagging group's lag")
    (group,) = report.groups
    assert group.group == lagging_group.group
    assert group.max_lag > 0
    assert {p.partition: p.committed for p in group.partitions} == lagging_group.committed
    assert group.status in LAG_STATUSES  # UNKNOWN at the first poll (one sample)
    assert group.rule

    ready = get(client, "/api/ready", Readiness)
    assert ready.ready and ready.connected and ready.latency_ms is not None

    all_groups = get(client, "/api/messaging/lag", LagReport)
    assert lagging_group.group in [g.group for g in all_groups.groups]
    missing = get(client, "/api/messaging/lag?group=no-such-group", ErrorBody, status=404)
    assert "no-such-group" in missing.detail

    stats = get(client, "/api/messaging/stats", ServiceStats)
    assert stats.publisher is not None
    assert stats.publisher.delivered == 1
    assert stats.components == {
        "archiver": {"rows": 1234, "files": 3, "last_file": "a.parquet"},
        "idle": None,
    }

    topics = get(client, "/api/topics", TopicsReport)
    (mine,) = [t for t in topics.topics if t.name == settings.topic]
    assert mine.monitored and mine.partitions == PARTITIONS and mine.replication_factor == 1

    def array_full() -> ArraySnapshot | None:
        snap = get(client, "/api/array", ArraySnapshot)
        return snap if snap.records == total else None

    array = wait_for(array_full, "the array view to read every packet")
    assert len(array.elements) == total
    assert {s.site_id for s in array.sites} == {f"site-{n}" for n in range(1, 6)}
    assert sum(s.elements for s in array.sites) == total
    assert array.undecodable == 0


def test_metrics_parse_and_carry_lag_exporter_names(
    served: tuple[httpx.Client, ApiState], settings: KafkaSettings, lagging_group: Lagging
) -> None:
    client, state = served

    def lag_ready() -> int | None:
        snap = state.cache.snapshot
        if snap is None or snap.latest_offset != PRODUCED + 1:
            return None
        want = expected_lag(snap, lagging_group)
        groups = [g for g in state.cache.lag.groups if g.group == lagging_group.group]
        return want if groups and groups[0].total_lag == want else None

    want = wait_for(lag_ready, "lag in the cache")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}

    def samples(name: str, **labels: str) -> list[Any]:
        return [
            s
            for f in families.values()
            for s in f.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    group = {"cluster_name": "test", "group": lagging_group.group}
    per_partition = samples("kafka_consumergroup_group_lag", topic=settings.topic, **group)
    assert {s.labels["partition"] for s in per_partition} == {
        str(p) for p in lagging_group.committed
    }
    assert sum(s.value for s in per_partition) == want
    (sum_lag,) = samples("kafka_consumergroup_group_sum_lag", **group)
    assert sum_lag.value == want
    (max_lag,) = samples("kafka_consumergroup_group_max_lag", **group)
    assert max_lag.value == max(s.value for s in per_partition)
    assert "kafka_consumergroup_group_max_lag_seconds" in families
    assert "kafka_consumergroup_group_lag_seconds" in families
    latest = samples("kafka_partition_latest_offset", topic=settings.topic)
    assert sum(s.value for s in latest) == PRODUCED + 1
    assert len(samples("kafka_partition_earliest_offset", topic=settings.topic)) == PARTITIONS
    status = samples("horizons_consumergroup_status", **group)
    assert sorted(s.labels["status"] for s in status) == sorted(
        ["OK", "UNKNOWN", "WARN", "STOP", "STALL", "REWIND", "ERR"]
    )
    assert sum(s.value for s in status) == 1
    (connected,) = samples("horizons_kafka_connected")
    assert connected.value == 1
    assert samples("horizons_kafka_latency_ms")[0].value >= 0
    assert samples("horizons_publisher_sent_total")[0].value == 1
    assert samples("horizons_publisher_delivered_total")[0].value == 1
    assert samples("horizons_publisher_failed_total")[0].value == 0
    assert samples("horizons_publisher_bytes_total")[0].value > 0
    assert samples("horizons_archiver_rows")[0].value == 1234
    assert "horizons_array_elements" in families


def test_stream_sends_snapshot_and_array_events(served: tuple[httpx.Client, ApiState]) -> None:
    client, _ = served
    events: dict[str, bytes] = {}
    with client.stream("GET", "/api/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: ") and event:
                events[event] = line[len("data: ") :].encode()
            if {"snapshot", "array"} <= events.keys():
                break
    update = msgspec.json.decode(events["snapshot"], type=DataPlaneUpdate)
    assert update.stats.publisher is not None
    msgspec.json.decode(events["array"], type=ArraySnapshot)


def test_openapi_documents_every_endpoint_with_a_model(
    served: tuple[httpx.Client, ApiState],
) -> None:
    client, _ = served
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    paths = doc["paths"]
    for path in (
        "/api/health",
        "/api/ready",
        "/api/messaging/snapshot",
        "/api/messaging/stats",
        "/api/messaging/lag",
        "/api/topics",
        "/api/array",
        "/api/stream",
        "/metrics",
    ):
        ok = paths[path]["get"]["responses"]["200"]
        (content,) = [c for c in ok["content"].values() if c.get("schema")]
        refs = [v for v in _walk(content["schema"]) if isinstance(v, str) and v.startswith("#/")]
        for ref in refs:
            assert ref.rsplit("/", 1)[1] in schemas, f"{path}: dangling {ref}"
    assert schemas["KafkaSnapshot"]["properties"].keys() >= {
        "connected",
        "latencyMs",
        "latestOffset",
        "partitions",
    }
    # Offline: no page of the app refers to a CDN or any other host.
    for page in ("/", "/docs", "/static/app.js", "/static/docs.js", "/static/app.css"):
        body = client.get(page).text
        assert "http://" not in body.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in body


def _walk(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)
    else:
        yield node


def test_not_ready_when_the_broker_is_unreachable() -> None:
    dead = KafkaSettings(bootstrap_servers=f"127.0.0.1:{find_free_port()}")
    state = ApiState(settings=dead, monitor=Monitor(dead, timeout=1.0), poll_interval=0.5)
    with (
        ApiServer(create_app(state), port=0) as server,
        httpx.Client(base_url=server.url, timeout=10.0) as client,
    ):

        def polled() -> httpx.Response | None:
            response = client.get("/api/ready")
            return response if response.json()["polledAt"] is not None else None

        response = wait_for(polled, "the first poll of the dead broker")
        assert response.status_code == 503
        ready = msgspec.json.decode(response.content, type=Readiness)
        assert (ready.ready, ready.connected) == (False, False)
        assert ready.error
        # Requests answer from the cache at once, while the poller waits on the dead broker.
        started = time.monotonic()
        snap = get(client, "/api/messaging/snapshot", KafkaSnapshot)
        assert time.monotonic() - started < 1.0
        assert not snap.connected and snap.latest_offset is None
        # one human line, naming the address and why; lag and topics repeat it, not wrap it
        assert snap.error == f"broker unreachable at {dead.bootstrap_servers} (connection refused)"
        assert "KafkaError" not in snap.error and "_TRANSPORT" not in snap.error
        lag = get(client, "/api/messaging/lag", LagReport)
        assert lag.groups == [] and lag.error == snap.error
        assert get(client, "/api/topics", TopicsReport).error == snap.error
        assert get(client, "/api/messaging/stats", ServiceStats).publisher is None
        assert "no array view" in get(client, "/api/array", ErrorBody, status=404).detail
        assert get(client, "/api/health", Liveness).status == "ok"
        metrics = client.get("/metrics").text
        assert "horizons_kafka_connected 0.0" in metrics
    state.monitor.close()
