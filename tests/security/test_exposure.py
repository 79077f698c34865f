"""``horizons up`` and ``archive run --serve`` refuse a non-loopback API address without
HORIZONS_API_TOKEN unless ``--insecure`` is given, before any broker or group is touched
(no broker: runs on every engine)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cosmic_horizons.cli.exits import Exit

NOWHERE = "127.0.0.1:1"  # nothing listens: past the refusal, the command fails as unreachable
ARCHIVE_SERVE = ["archive", "run", "--serve", "0", "--serve-host", "0.0.0.0"]
ARCHIVE_SERVE += ["--bootstrap", NOWHERE, "--storage", "file:///nonexistent/horizons-exposure"]


def _horizons(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HORIZONS_API_TOKEN"}
    return subprocess.run(
        [sys.executable, "-m", "cosmic_horizons", *args],
        capture_output=True, text=True, env={**env, "COLUMNS": "300"}, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [
        ["up", "--api-host", "0.0.0.0", "--bootstrap", NOWHERE],
        ARCHIVE_SERVE,
    ],
    ids=["up", "archive-run-serve"],
)
def test_public_api_host_needs_a_token_or_insecure(args: list[str]) -> None:
    refused = _horizons(*args)
    assert refused.returncode == Exit.USAGE, refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert "0.0.0.0: refusing" in line and "HORIZONS_API_TOKEN" in line and "--insecure" in line
    allowed = _horizons(*args, "--insecure")
    assert allowed.returncode == Exit.UNREACHABLE, allowed.stderr  # got past the refusal
    assert "refusing" not in allowed.stderr
