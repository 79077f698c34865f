"""`horizons topics list`, `/api/topics` and the monitor's snapshot show one topic summary.

On Tansu a replication factor above one lists the same (only) broker several times; a replica
is counted per distinct broker, so every surface must show a replication factor of 1 there.
"""

from __future__ import annotations

import json

import httpx
import msgspec
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

from cosmic_horizons.api import ApiServer, ApiState, create_app
from cosmic_horizons.api.models import TopicsReport
from cosmic_horizons.cli.main import app
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.monitor import Monitor
from tests.helpers import wait_for

PARTITIONS = 2


def test_cli_api_and_monitor_show_the_same_topic_summary(
    engine: str, settings: KafkaSettings, bootstrap: str, topic_name: str
) -> None:
    # Tansu accepts 3 replicas on its one broker (and lists that broker three times);
    # Kafka refuses more replicas than brokers.
    asked_replicas = 3 if engine == "tansu" else 1
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic_name, PARTITIONS, asked_replicas)])[topic_name].result(10)

    def led() -> bool:
        topic = admin.list_topics(timeout=10).topics.get(topic_name)
        return topic is not None and all(p.leader >= 0 for p in topic.partitions.values())

    wait_for(led, f"leaders for {topic_name}", 30)
    raw = admin.list_topics(timeout=10).topics[topic_name]
    listed = {len(p.replicas) for p in raw.partitions.values()}
    assert listed == {asked_replicas}  # the raw count is what the surfaces must not show

    result = CliRunner().invoke(app, ["topics", "list", "--json", "-b", bootstrap])
    assert result.exit_code == 0, result.output
    (cli,) = [t for t in json.loads(result.stdout) if t["name"] == topic_name]

    monitor = Monitor(settings, timeout=5.0)
    state = ApiState(settings=settings, monitor=monitor, poll_interval=0.5)
    server = ApiServer(create_app(state), port=0).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10.0) as client:

            def api_topic() -> object:
                body = msgspec.json.decode(client.get("/api/topics").content, type=TopicsReport)
                return next((t for t in body.topics if t.name == topic_name), None)

            api = wait_for(api_topic, "/api/topics to list the topic")
        snap = monitor.poll()
    finally:
        server.stop()
        monitor.close()

    assert snap.connected and snap.error is None, snap.error
    expected = (PARTITIONS, 1, 0)  # one distinct broker holds each partition, all in sync
    assert (cli["partitions"], cli["replication_factor"], cli["under_replicated"]) == expected
    assert (api.partitions, api.replication_factor, api.under_replicated_partitions) == expected
    assert (
        snap.partitions,
        snap.replication_factor,
        snap.under_replicated_partitions,
    ) == expected
    assert cli["leaderless"] == 0
    assert all(not p.under_replicated for p in snap.partition_details or [])
