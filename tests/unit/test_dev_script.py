"""``./dev`` says what it is doing before the long first-run install."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_first_run_announces_the_venv_and_install(tmp_path: Path) -> None:
    # A stand-in interpreter: passes the version check, then fails creating the venv, so
    # nothing is installed and the message must already have been printed.
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\n[ "$1" = -c ] && exit 0\nexit 7\n')
    fake.chmod(0o755)
    venv = tmp_path / "venv"
    result = subprocess.run(
        [str(ROOT / "dev"), "up"],
        env={**os.environ, "PYTHON": str(fake), "HORIZONS_VENV": str(venv)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 7, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"dev: creating {venv} and installing packages (first run, ~1 min)..."
    )
    assert not venv.exists()
