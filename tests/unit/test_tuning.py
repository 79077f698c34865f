"""The spec's Performance Tuning table as data, and desired-vs-actual verdicts."""

from __future__ import annotations

import pytest

from cosmic_horizons.config import PROFILES, Profile
from cosmic_horizons.errors import ConfigError
from cosmic_horizons.tuning import (
    BROKER_SETTINGS,
    TUNING,
    Desired,
    compare,
    parse_value,
    recommended_settings,
    server_properties,
)

# The spec's table, transcribed once more by hand: name -> (dev, prod low, prod high, purpose).
SPEC_TABLE = {
    "num.network.threads": (3, 8, 16, "Network I/O threads"),
    "num.io.threads": (8, 16, 32, "Disk I/O threads"),
    "socket.send.buffer.bytes": (102400, 524288, 524288, "TCP send buffer"),
    "socket.receive.buffer.bytes": (102400, 524288, 524288, "TCP receive buffer"),
    "log.flush.interval.messages": (10000, 100000, 100000, "Batch write size"),
    "replica.lag.time.max.ms": (10000, 30000, 30000, "Replica failure detection"),
}


def _prod_ok() -> dict[str, str | None]:
    return {p.name: str(p.prod.low) for p in TUNING}


def _by_name(
    configs: dict[str, str | None], profile: Profile = "prod"
) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.note or "") for c in compare(configs, profile)}


def test_table_matches_the_spec() -> None:
    assert {p.name: (p.dev.low, p.prod.low, p.prod.high, p.purpose) for p in TUNING} == SPEC_TABLE
    assert all(p.dev.low == p.dev.high for p in TUNING), "dev defaults are single values"


def test_every_parameter_at_its_prod_minimum_is_ok() -> None:
    checks = compare(_prod_ok(), "prod")
    assert [c.status for c in checks] == ["ok"] * len(TUNING)
    assert [c.desired for c in checks] == ["8-16", "16-32", "524288", "524288", "100000", "30000"]


@pytest.mark.parametrize(
    ("value", "status"),
    [("7", "below"), ("8", "ok"), ("12", "ok"), ("16", "ok"), ("17", "above")],
)
def test_range_bounds_are_inclusive(value: str, status: str) -> None:
    configs = {**_prod_ok(), "num.network.threads": value}
    assert _by_name(configs)["num.network.threads"][0] == status


def test_dev_profile_judges_against_the_dev_column() -> None:
    dev_ok = {p.name: str(p.dev.low) for p in TUNING}
    assert {c.status for c in compare(dev_ok, "dev")} == {"ok"}
    # The dev values on a prod broker are all too small.
    assert {c.status for c in compare(dev_ok, "prod")} == {"below"}
    # The prod values on a dev broker are all too large.
    assert {c.status for c in compare(_prod_ok(), "dev")} == {"above"}


@pytest.mark.parametrize(
    ("name", "value", "status"),
    [
        ("socket.send.buffer.bytes", "512KiB", "ok"),  # 524288 bytes
        ("socket.send.buffer.bytes", "512KB", "below"),  # 512000 bytes: decimal kilo
        ("socket.receive.buffer.bytes", "1MiB", "above"),
        ("replica.lag.time.max.ms", "30s", "ok"),  # 30000 ms
        ("replica.lag.time.max.ms", "29999", "below"),
        ("replica.lag.time.max.ms", "1m", "above"),
        ("replica.lag.time.max.ms", "30000ms", "ok"),
    ],
)
def test_values_with_units_compare_in_the_parameters_unit(
    name: str, value: str, status: str
) -> None:
    assert _by_name({**_prod_ok(), name: value})[name][0] == status


def test_missing_empty_and_unparseable_values_are_unknown_with_the_reason() -> None:
    configs = _prod_ok()
    del configs["num.io.threads"]
    configs["num.network.threads"] = None  # a broker reported the name without a value
    configs["log.flush.interval.messages"] = "lots"
    configs["socket.send.buffer.bytes"] = "  "
    got = _by_name(configs)
    assert got["num.io.threads"] == ("unknown", "the broker did not report this parameter")
    assert got["num.network.threads"][0] == "unknown"
    assert got["socket.send.buffer.bytes"][0] == "unknown"
    status, note = got["log.flush.interval.messages"]
    assert status == "unknown"
    assert "log.flush.interval.messages='lots'" in note
    assert "whole number of messages" in note
    assert got["replica.lag.time.max.ms"][0] == "ok"


def test_minus_one_socket_buffer_is_the_os_default_not_a_number_to_compare() -> None:
    got = _by_name({**_prod_ok(), "socket.receive.buffer.bytes": "-1"})
    assert got["socket.receive.buffer.bytes"] == (
        "unknown",
        "-1: the operating system's default size",
    )


def test_kafkas_never_flush_default_is_above_with_a_note() -> None:
    got = _by_name({**_prod_ok(), "log.flush.interval.messages": str(2**63 - 1)})
    assert got["log.flush.interval.messages"] == (
        "above",
        "Kafka's default: flushing left to the OS",
    )


def test_parse_value_rejects_units_on_counts() -> None:
    threads = next(p for p in TUNING if p.name == "num.io.threads")
    assert parse_value(threads, " 16 ") == 16
    with pytest.raises(ConfigError, match=r"num.io.threads='16k': expected a whole number"):
        parse_value(threads, "16k")


def test_desired_range_must_not_be_empty() -> None:
    with pytest.raises(ConfigError, match="16-8"):
        Desired(16, 8)
    assert Desired(8, 16).text == "8-16"
    assert Desired(3, 3).text == "3"


def test_server_properties_are_loadable_and_recommend_the_ranges_minimum() -> None:
    for profile in PROFILES:
        text = server_properties(profile)
        parsed: dict[str, str] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name, sep, value = line.partition("=")
            assert sep and "#" not in value, f"a comment on a value line: {line!r}"
            assert name not in parsed, f"{name} set twice"
            parsed[name] = value
        assert parsed == recommended_settings(profile)
        judged = compare(dict(parsed), profile)
        assert {c.status for c in judged} == {"ok"}, judged
    prod = recommended_settings("prod")
    assert prod["num.network.threads"] == "8"
    assert prod["num.io.threads"] == "16"
    assert "# Network I/O threads (threads, recommended 8-16)" in server_properties("prod")


def test_broker_settings_follow_the_spec() -> None:
    prod = BROKER_SETTINGS["prod"]
    assert prod["default.replication.factor"] == "3"
    assert prod["min.insync.replicas"] == "2"
    assert prod["log.retention.hours"] == "168"
    assert prod["log.retention.bytes"] == str(2**40)
    assert prod["log.segment.bytes"] == str(2**30)
    assert prod["socket.request.max.bytes"] == str(100 * 2**20)
    dev = BROKER_SETTINGS["dev"]
    assert dev["log.retention.bytes"] == "107374182400"
    for settings in (dev, prod):
        assert settings["compression.type"] == "snappy"
        assert settings["auto.create.topics.enable"] == "false"
        assert not set(settings) & {p.name for p in TUNING}, "tuning lives in TUNING only"
