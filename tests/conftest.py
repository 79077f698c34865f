"""Shared fixtures: one broker per engine per session, a unique topic per test.

``--engine tansu`` (the default when pytest runs bare) uses the embedded Tansu broker;
``--engine kafka`` a one-node Apache Kafka (KRaft) cluster from tools/kafka/fetch;
``--engine both`` (what ``./dev test`` passes) runs every broker-backed test once on each.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cosmic_horizons.broker import EmbeddedBroker, find_free_port
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.kafka_local import LocalKafkaCluster
from tests.engines import ENGINES
from tests.helpers import commit_retrying

ROOT = Path(__file__).resolve().parent.parent
if "PYTEST_XDIST_WORKER" in os.environ:
    # pytest-xdist gives its workers COLUMNS=80 and LINES=24; the commands under test would
    # then wrap their tables at 80 columns, unlike the plain pipe they see without workers.
    for _name in ("COLUMNS", "LINES"):
        os.environ.pop(_name, None)
if "PYTEST_XDIST_WORKER" in os.environ and "HORIZONS_TEST_WORKER_OUTPUT" not in os.environ:
    # Under pytest-xdist each worker has its own session brokers, so each gets its own
    # folder (brokers' data, logs, screenshots); tests/*/conftest.py and subprocesses read it.
    _base = Path(os.environ.get("HORIZONS_TEST_OUTPUT", ROOT / "test-output"))
    os.environ["HORIZONS_TEST_OUTPUT"] = str(_base / os.environ["PYTEST_XDIST_WORKER"])
    os.environ["HORIZONS_TEST_WORKER_OUTPUT"] = "1"
OUTPUT = Path(os.environ.get("HORIZONS_TEST_OUTPUT", ROOT / "test-output"))

#: Test-only Kafka settings on top of the dev profile: retention is checked every second.
KAFKA_TEST_OVERRIDES = {
    "log.retention.check.interval.ms": "1000",
    "log.segment.delete.delay.ms": "0",
    "log.initial.task.delay.ms": "0",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--engine",
        choices=("tansu", "kafka", "both"),
        default="tansu",
        help="broker engine for broker-backed tests: tansu (embedded, default), kafka "
        "(Apache Kafka KRaft from tools/kafka/fetch) or both",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "engine_only(name, reason): run on that broker engine only (tests/engines.py)"
    )


def selected_engines(config: pytest.Config) -> list[str]:
    choice = str(config.getoption("--engine"))
    return list(ENGINES) if choice == "both" else [choice]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Every test reaching the session broker (directly or through bootstrap/settings) runs
    # once per selected engine; the engine is its id ([tansu], [kafka]).
    if "engine" in metafunc.fixturenames:
        metafunc.parametrize(
            "engine", selected_engines(metafunc.config), indirect=True, scope="session"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests under tests/broker use the broker: mark them so `-m "not broker"` runs the fast set.
    for item in items:
        if "broker" in item.path.parts or "broker_session" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.broker)
        only = item.get_closest_marker("engine_only")
        if only is None:
            continue
        wanted = str(only.args[0])
        callspec = getattr(item, "callspec", None)
        engine = callspec.params.get("engine") if callspec is not None else None
        if engine is None:
            # Not on the session broker (e.g. a Kafka cluster of its own): run it when selected.
            if wanted not in selected_engines(config):
                item.add_marker(pytest.mark.skip(reason=f"{wanted} only: {only.kwargs['reason']}"))
        elif engine != wanted:
            item.add_marker(pytest.mark.skip(reason=f"{wanted} only: {only.kwargs['reason']}"))


@dataclass
class SessionBroker:
    """The session's broker: its engine name, its bootstrap, and the process behind it."""

    engine: str
    bootstrap: str
    tansu: EmbeddedBroker | None = None
    kafka: LocalKafkaCluster | None = None


@pytest.fixture(scope="session")
def engine(request: pytest.FixtureRequest) -> str:
    """The broker engine of this run of the test: ``tansu`` or ``kafka``."""
    return str(getattr(request, "param", selected_engines(request.config)[0]))


def start_kafka(data_dir: Path, nodes: int = 1) -> LocalKafkaCluster:
    """A fresh local Kafka cluster for tests (dev profile plus the test overrides)."""
    shutil.rmtree(data_dir, ignore_errors=True)
    return LocalKafkaCluster(data_dir, nodes, overrides=KAFKA_TEST_OVERRIDES).start()


def warm_group_coordinator(
    bootstrap: str, timeout: float = 60.0, conf: Mapping[str, Any] | None = None
) -> None:
    """Commit once from a throwaway group, retrying while Kafka creates __consumer_offsets.

    A fresh cluster answers the first commits with NOT_COORDINATOR until that topic's
    partitions have leaders; a long-running cluster never does, so the tests start warm.
    ``conf``: client settings to use (a secured cluster's credentials).
    """
    topic = f"warm-up.{uuid.uuid4().hex[:8]}"
    base = {"bootstrap.servers": bootstrap, **(conf or {})}
    admin = AdminClient(base)  # kept alive until the answer
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    consumer = Consumer({**base, "group.id": topic})
    try:
        commit_retrying(consumer, [TopicPartition(topic, 0, 0)], timeout)
    finally:
        consumer.close()


@pytest.fixture(scope="session")
def broker_session(engine: str) -> Iterator[SessionBroker]:
    """The session broker of ``engine``, started once for the whole test session."""
    if engine == "kafka":
        cluster = start_kafka(OUTPUT / "kafka")
        warm_group_coordinator(cluster.bootstrap)
        yield SessionBroker("kafka", cluster.bootstrap, kafka=cluster)
        cluster.stop()
    else:
        broker = EmbeddedBroker(find_free_port(), log_path=OUTPUT / "tansu.log")
        broker.start()
        yield SessionBroker("tansu", broker.bootstrap, tansu=broker)
        broker.stop()


@pytest.fixture
def bootstrap(broker_session: SessionBroker) -> str:
    return broker_session.bootstrap


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name unique to this test (no test sees another's records)."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:60]
    return f"test.{base}.{uuid.uuid4().hex[:8]}"


@pytest.fixture
def settings(bootstrap: str, topic_name: str) -> KafkaSettings:
    """Settings pointing at the session broker and this test's own topic."""
    return KafkaSettings(bootstrap_servers=bootstrap, topic=topic_name)


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    """A folder under test-output/ for this test's artefacts (screenshots, logs)."""
    path = OUTPUT / re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.nodeid)[:120]
    path.mkdir(parents=True, exist_ok=True)
    return path
