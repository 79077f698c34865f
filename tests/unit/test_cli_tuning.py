"""`horizons broker-config --print`: the recommended settings without a broker."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cosmic_horizons.cli.main import app
from cosmic_horizons.cli.tuning import BrokerReport, ConfigReport, _print_table
from cosmic_horizons.tuning import TUNING, compare, server_properties

runner = CliRunner()


def test_print_writes_the_profiles_server_properties() -> None:
    for profile in ("dev", "prod"):
        result = runner.invoke(app, ["broker-config", "--print", "--profile", profile])
        assert result.exit_code == 0, result.stderr
        assert result.stdout == server_properties(profile)


def test_print_takes_the_profile_from_the_environment() -> None:
    result = runner.invoke(app, ["broker-config", "--print"], env={"HORIZONS_PROFILE": "prod"})
    assert result.exit_code == 0
    assert "num.io.threads=16\n" in result.stdout


def test_bad_profile_exits_2_naming_it() -> None:
    result = runner.invoke(app, ["broker-config", "--print", "--profile", "staging"])
    assert result.exit_code == 2
    assert "--profile='staging'" in result.stderr


def test_table_shows_each_broker_and_the_notes(capsys: pytest.CaptureFixture[str]) -> None:
    # The embedded broker reports no broker configs, so the table is exercised with real
    # comparisons of two brokers' values here.
    good = {p.name: str(p.prod.low) for p in TUNING}
    off = {**good, "num.io.threads": "8", "socket.send.buffer.bytes": "-1"}
    report = ConfigReport(
        profile="prod",
        bootstrap="kafka-0:9092",
        ok=False,
        brokers=[BrokerReport(0, compare(good, "prod")), BrokerReport(1, compare(off, "prod"))],
    )
    _print_table(report)
    out = capsys.readouterr().out
    assert "broker 0" in out and "broker 1" in out
    assert "16-32" in out
    assert "8 below" in out
    assert "-1 unknown" in out
    assert "note: socket.send.buffer.bytes: -1: the operating system's default size" in out
    assert "differs from the prod profile" in out
