"""The spec's `kafka-consumer-groups --group cosmic-horizons-array-element` names no group."""

from __future__ import annotations

from typer.testing import CliRunner

from cosmic_horizons.cli.main import app


def test_lag_for_the_producers_client_id_says_which_group_to_look_at(bootstrap: str) -> None:
    result = CliRunner().invoke(
        app,
        ["lag", "--group", "cosmic-horizons-array-element", "--samples", "1", "-b", bootstrap],
    )
    assert result.exit_code == 1
    assert "the producer's client.id, not a consumer group" in result.stderr
    assert "cosmic-horizons-archiver" in result.stderr and "`horizons lag`" in result.stderr
