"""The record browser with nothing listening: one line and exit 3 at once, never exit 0."""

from __future__ import annotations

import time

from typer.testing import CliRunner

from cosmic_horizons.broker import find_free_port
from cosmic_horizons.cli.main import app


def test_browsing_an_unreachable_broker_is_exit_3_at_once() -> None:
    address = f"127.0.0.1:{find_free_port()}"
    started = time.monotonic()
    for args in (["consume", "--partition", "0"], ["consume", "--element", "e-1"],
                 ["archive", "replay", "--from-kafka", "--from", "-1h", "--to", "now",
                  "--to-stdout"]):  # fmt: skip
        result = CliRunner().invoke(app, [*args, "-b", address])
        assert result.exit_code == 3, (args, result.output)
        assert f"broker unreachable at {address} (connection refused)" in result.stderr
    assert time.monotonic() - started < 10
