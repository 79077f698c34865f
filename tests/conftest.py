"""Shared fixtures: one embedded broker per session, a unique topic per test."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmic_horizons.broker import EmbeddedBroker, find_free_port
from cosmic_horizons.config import KafkaSettings

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = Path(os.environ.get("HORIZONS_TEST_OUTPUT", ROOT / "test-output"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests under tests/broker use the broker: mark them so `-m "not broker"` runs the fast set.
    for item in items:
        if "broker" in item.path.parts or "broker_session" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.broker)


@pytest.fixture(scope="session")
def broker_session() -> Iterator[EmbeddedBroker]:
    """The embedded Tansu broker, started once for the whole test session on a free port."""
    broker = EmbeddedBroker(find_free_port(), log_path=OUTPUT / "tansu.log")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def bootstrap(broker_session: EmbeddedBroker) -> str:
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
