"""Which broker engine a test runs on, and one-line reasons for tests that fit only one.

``--engine tansu|kafka|both`` (tests/conftest.py) picks the engines; every test using the
session broker runs once per engine, with ``[tansu]`` / ``[kafka]`` in its id. A test that
can pass on one engine only says why::

    @only_tansu("Kafka implements CreatePartitions")
    def test_create_partitions_unsupported_changes_nothing(...): ...

The other engine's run is reported as skipped with that reason (``-ra`` lists it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

ENGINES = ("tansu", "kafka")
F = TypeVar("F", bound=Callable[..., object])


def only_tansu(reason: str) -> Callable[[F], F]:
    """Run this test on the embedded broker only; ``reason`` says why not on Kafka."""
    return pytest.mark.engine_only("tansu", reason=reason)  # type: ignore[no-any-return]


def only_kafka(reason: str) -> Callable[[F], F]:
    """Run this test on real Kafka only; ``reason`` says why not on Tansu."""
    return pytest.mark.engine_only("kafka", reason=reason)  # type: ignore[no-any-return]
