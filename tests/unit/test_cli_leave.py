"""How a `horizons` process ends: its code, and its output flushed, with and without pyarrow."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _end(code: str, *, pyarrow: bool) -> subprocess.CompletedProcess[str]:
    script = (
        ("import pyarrow\n" if pyarrow else "")
        + "import sys\nfrom cosmic_horizons.cli.main import leave\n"
        + "sys.stdout.write('out-' * 2000)\nsys.stderr.write('err-line')\n"
        + f"leave({code})\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("pyarrow", [True, False])
@pytest.mark.parametrize(("code", "status"), [("None", 0), ("0", 0), ("5", 5), ("130", 130)])
def test_leave_exits_with_the_code_and_everything_written(
    code: str, status: int, pyarrow: bool
) -> None:
    done = _end(code, pyarrow=pyarrow)
    assert done.returncode == status, done.stderr
    assert done.stdout == "out-" * 2000  # buffered output is flushed before the process ends
    assert done.stderr.startswith("err-line")


@pytest.mark.parametrize("pyarrow", [True, False])
def test_leave_with_a_message_prints_it_and_exits_1(pyarrow: bool) -> None:
    done = _end("'no archive here'", pyarrow=pyarrow)
    assert done.returncode == 1
    assert "no archive here" in done.stderr


def test_the_cli_ends_through_leave_with_the_command_s_code(tmp_path: object) -> None:
    # `archive verify` of an empty archive loads pyarrow and exits 1 (nothing verified)
    done = subprocess.run(
        [sys.executable, "-m", "cosmic_horizons", "archive", "verify", "--storage",
         f"file://{tmp_path}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "no archive files" in done.stderr
