"""``topics alter``'s judgement of a lower retention.bytes when the sizes cannot be had: the
broker lacks DescribeLogDirs (the embedded one: tests/broker/test_cli_topics.py) or the
principal may not call it (here: what the secured cluster answers such a principal)."""

from __future__ import annotations

import pytest

from cosmic_horizons.cli import topics_alter
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.errors import AuthorizationError


def test_a_principal_refused_describe_log_dirs_is_told_the_size_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refused(*args: object, **kwargs: object) -> object:
        raise AuthorizationError("CLUSTER_AUTHORIZATION_FAILED", resource="cluster")

    monkeypatch.setattr(topics_alter, "describe_log_dirs", refused)
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    [line] = topics_alter._deleted_by_size(settings, "t", 1000, 10**9)
    assert "the topic's size is unknown (not authorized" in line
    assert "lower than before (1000000000)" in line
