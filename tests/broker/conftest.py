"""Fixtures of the broker tests: a broker to stop and start again (an outage)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from cosmic_horizons.broker import EmbeddedBroker, find_free_port
from cosmic_horizons.kafka_local import LocalKafkaCluster
from tests.conftest import SessionBroker
from tests.helpers import create_topic


@dataclass
class Outage:
    """A broker of this test's own (Tansu) or the session's one Kafka node, to stop."""

    bootstrap: str
    tansu: EmbeddedBroker | None = None
    kafka: LocalKafkaCluster | None = None

    @property
    def keeps_data(self) -> bool:
        return self.kafka is not None

    def down(self) -> None:
        if self.tansu is not None:
            # Abruptly, as a link goes down: Tansu may go on serving for seconds after SIGTERM.
            self.tansu.stop(timeout=0.2)
        else:
            assert self.kafka is not None
            self.kafka.stop_node(self.kafka.node_ids[0])

    def up(self, topic: str) -> None:
        if self.tansu is not None:  # in memory: a new broker on the same port, topic anew
            self.tansu.start()
            create_topic(self.bootstrap, topic, partitions=3)
        else:
            assert self.kafka is not None
            self.kafka.start_node(self.kafka.node_ids[0])


@pytest.fixture
def outage(broker_session: SessionBroker) -> Iterator[Outage]:
    if broker_session.kafka is not None:
        cluster = broker_session.kafka
        yield Outage(broker_session.bootstrap, kafka=cluster)
        node = cluster.node_ids[0]
        if not cluster.running(node):
            cluster.start_node(node)
        return
    broker = EmbeddedBroker(find_free_port())
    broker.start()
    try:
        yield Outage(broker.bootstrap, tansu=broker)
    finally:
        broker.stop()
