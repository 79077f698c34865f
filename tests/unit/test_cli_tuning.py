"""`horizons broker-config --print`: the recommended settings without a broker."""

from __future__ import annotations

from typer.testing import CliRunner

from cosmic_horizons.cli.main import app
from cosmic_horizons.tuning import server_properties

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
