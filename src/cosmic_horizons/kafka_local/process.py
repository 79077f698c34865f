"""The JVM processes of local Kafka nodes: started, stopped and read back.

Child JVMs die with the thread that started them (``PR_SET_PDEATHSIG``, through
:func:`~cosmic_horizons.children.parent_death_hook`) on Linux, so a crashed parent leaves no
Java behind.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from pathlib import Path
from typing import IO

from ..children import parent_death_hook

__all__ = ["launch", "reap", "tail", "terminate"]


def launch(cmd: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own session, its output appended to ``log``; it dies with us."""
    return subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
        preexec_fn=parent_death_hook(),
    )


def terminate(proc: subprocess.Popen[bytes]) -> None:
    """Ask a running process to shut down cleanly (SIGTERM; SIGCONT first, as a paused JVM
    cannot shut down)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGTERM)


def reap(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """Wait up to ``timeout`` seconds for ``proc`` to exit, SIGKILL it after; its exit code."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a node's log, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
