"""`horizons broker-config` against the embedded broker: the documented answer to what it says."""

from __future__ import annotations

import json

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    ResourceType,
)
from typer.testing import CliRunner

from cosmic_horizons.broker import find_free_port
from cosmic_horizons.cli.main import app
from cosmic_horizons.tuning import TUNING, compare

runner = CliRunner()


def horizons(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _broker_answer(bootstrap: str) -> tuple[int, dict[str, str | None] | str]:
    """What the broker itself answers to DescribeConfigs for its BROKER resource."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    broker_id = min(admin.list_topics(timeout=10).brokers)
    resource = ConfigResource(ResourceType.BROKER, str(broker_id))
    try:
        entries = admin.describe_configs([resource], request_timeout=10)[resource].result(20)
    except KafkaException as exc:
        return broker_id, str(exc)
    return broker_id, {name: entry.value for name, entry in entries.items()}


def test_broker_config_reports_what_the_broker_answers(bootstrap: str) -> None:
    broker_id, answer = _broker_answer(bootstrap)
    code, out, err = horizons("broker-config", "-b", bootstrap, "--profile", "dev")
    json_code, json_out, _ = horizons("broker-config", "-b", bootstrap, "--json")
    if isinstance(answer, dict) and answer:
        # The broker reports its configs: a table of desired vs actual, exit 0 only when all ok.
        expected = compare(answer, "dev")
        all_ok = all(c.status == "ok" for c in expected)
        assert code == (0 if all_ok else 1), err
        for check in expected:
            assert check.name in out
        assert f"broker {broker_id}" in out
        report = json.loads(json_out)
        assert report["brokers"][0]["broker_id"] == broker_id
        assert [p["name"] for p in report["brokers"][0]["parameters"]] == [t.name for t in TUNING]
    else:
        # Refused or answered with nothing (Tansu 0.6.0 answers an empty list): one line naming
        # the operation and the answer, exit 3, nothing on stdout.
        assert code == 3, (out, err)
        assert out == ""
        assert "DescribeConfigs" in err
        if isinstance(answer, dict):
            assert f"an empty config list for broker {broker_id}" in err
        assert json_code == 3
        assert json_out == ""


def test_broker_config_on_an_absent_broker_exits_3() -> None:
    absent = f"127.0.0.1:{find_free_port()}"
    code, out, err = horizons("broker-config", "-b", absent, "--timeout", "2")
    assert code == 3
    assert out == ""
    assert "unreachable" in err
