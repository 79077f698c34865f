"""`horizons plan` end to end (no broker): the ngVLA preset against the spec's prod cluster,
the compression measured on simulated packets, and bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cosmic_horizons.cli.exits import Exit
from cosmic_horizons.cli.main import app
from cosmic_horizons.cli.plan import measure_compression

runner = CliRunner()


def test_ngvla_preset_says_how_long_the_spec_cluster_holds() -> None:
    result = runner.invoke(app, ["plan", "--preset", "ngvla", "--compression-ratio", "0.5"])
    assert result.exit_code == 0, result.stderr
    assert "263 / 2" in result.stdout
    # 7.605 GB/s raw, halved: 500 GiB of unique data lasts 141 s on 3 x 500 GiB at RF 3.
    assert "holds 2.4 minutes of this data" in result.stdout
    assert "not 7.0 days" in result.stdout

    doc = json.loads(
        runner.invoke(
            app, ["plan", "--preset", "ngvla", "--compression-ratio", "0.5", "--json"]
        ).stdout
    )
    assert doc["spec_prod_cluster"]["holds_seconds"] == pytest.approx(141.2, abs=0.2)
    assert doc["spec_prod_cluster"]["holds_retention"] is False
    assert doc["plan"]["archive_per_year_bytes"] == pytest.approx(120e15, rel=1e-4)
    assert doc["inputs"]["compression_measured"] is False


def test_compression_is_measured_when_not_given() -> None:
    # Telemetry JSON compresses well; random visibility samples (base64) do not.
    telemetry = measure_compression(0, packets=2000)
    visibility = measure_compression(64, packets=2000)
    assert 0.1 < telemetry < 0.4
    assert 0.65 < visibility < 0.85
    doc = json.loads(runner.invoke(app, ["plan", "--elements", "10", "--json"]).stdout)
    assert doc["inputs"]["compression_measured"] is True
    assert 0.1 < doc["inputs"]["compression_ratio"] < 0.4


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--preset", "vla"], "--preset 'vla'"),
        (["--elements", "0"], "--elements"),
        (["--visibility", "fast"], "--visibility"),
        (["--per-year", "1PB", "--visibility", "1GB/s"], "give one of"),
    ],
)
def test_bad_input_exits_2_naming_the_option(args: list[str], needle: str) -> None:
    result = runner.invoke(app, ["plan", "--compression-ratio", "0.5", *args])
    assert result.exit_code == Exit.USAGE
    assert needle in result.stderr
