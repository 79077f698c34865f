"""Child processes that die with this process (on Linux: the kernel's parent-death signal).

:func:`parent_death_hook` is a ``preexec_fn`` for :class:`subprocess.Popen`; a child started
through :data:`spawner` dies only when the whole process goes, not with the thread that asked
for it.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["parent_death_hook", "spawner"]

_PR_SET_PDEATHSIG = 1


def parent_death_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to SIGKILL the child when its parent thread exits
    (Linux only; None elsewhere). libc is loaded here, before the fork, so the child only
    makes two system calls."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):  # pragma: no cover - an unusual libc
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return hook


class _Spawner:
    """Starts processes from one daemon thread that lives as long as this process.

    The kernel's parent-death signal fires when the *thread* that forked the child exits,
    not the process. A broker started from a short-lived thread (a test helper, a worker)
    would be killed when that thread returns; started from this thread, it is killed only
    when the whole process goes.
    """

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[
            tuple[dict[str, Any], queue.SimpleQueue[subprocess.Popen[bytes] | BaseException]]
        ] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def popen(self, **kwargs: Any) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._serve, name="horizons-broker-spawner", daemon=True
                )
                self._thread.start()
        answer: queue.SimpleQueue[subprocess.Popen[bytes] | BaseException] = queue.SimpleQueue()
        self._requests.put((kwargs, answer))
        result = answer.get()
        if isinstance(result, BaseException):
            raise result
        return result

    def _serve(self) -> None:
        while True:
            kwargs, answer = self._requests.get()
            try:
                answer.put(subprocess.Popen(**kwargs))
            except BaseException as exc:  # handed to the caller, raised there
                answer.put(exc)


#: The one spawner thread of this process.
spawner = _Spawner()
