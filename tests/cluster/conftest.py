"""A three-node Apache Kafka cluster (prod profile) for the tests that need replication.

Every test here runs on Kafka only: Tansu is one process, so it has no nodes to kill,
pause or restart and no replication to lose. The cluster starts once per run of this
folder; a test that kills, pauses or stops a node brings it back before it ends
(:func:`all_nodes_up` checks that, so one test's fault never leaks into the next).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmic_horizons.kafka_local import LocalKafkaCluster

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path(os.environ.get("HORIZONS_TEST_OUTPUT", ROOT / "test-output"))

#: Test-only settings on top of the prod profile: retention checked every second, and
#: sessions short enough that a paused node or consumer is noticed within seconds.
CLUSTER_TEST_OVERRIDES = {
    "log.retention.check.interval.ms": "1000",
    "log.segment.delete.delay.ms": "0",
    "log.initial.task.delay.ms": "0",
    "replica.lag.time.max.ms": "5000",
    "broker.session.timeout.ms": "6000",
    "broker.heartbeat.interval.ms": "1000",
}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    kafka_selected = str(config.getoption("--engine")) in ("kafka", "both")
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.cluster)
            # One worker runs the folder, so the three-node cluster starts once per run.
            item.add_marker(pytest.mark.xdist_group("cluster3"))
            item.add_marker(pytest.mark.broker)
            if not kafka_selected:
                item.add_marker(
                    pytest.mark.skip(
                        reason="kafka only: Tansu has no nodes to fail and no "
                        "replication (run with --engine kafka or both)"
                    )
                )


@pytest.fixture(scope="package")
def cluster3() -> Iterator[LocalKafkaCluster]:
    """Three combined KRaft nodes, prod profile, on loopback; stopped after this folder."""
    data = OUTPUT / "kafka-cluster3"
    shutil.rmtree(data, ignore_errors=True)
    cluster = LocalKafkaCluster(data, 3, profile="prod", overrides=CLUSTER_TEST_OVERRIDES)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def all_nodes_up(cluster3: LocalKafkaCluster) -> Iterator[LocalKafkaCluster]:
    """The cluster, every node running before and after the test (restarted if needed)."""
    yield cluster3
    for node_id in cluster3.node_ids:
        if cluster3.running(node_id):
            cluster3.resume(node_id)  # harmless on a node that was never paused
        else:
            cluster3.start_node(node_id)
    cluster3.wait_ready()


@pytest.fixture
def cluster_bootstrap(all_nodes_up: LocalKafkaCluster) -> str:
    return all_nodes_up.bootstrap
