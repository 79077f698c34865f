"""The exit codes of every ``horizons`` command, the one mapping from this package's errors to
them, and the one way long-running commands stop on SIGINT/SIGTERM.

The table is documented in docs/exit-codes.md; a unit test keeps the two in step.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from enum import IntEnum
from types import FrameType
from typing import Any, ParamSpec

import typer
from rich.markup import escape

from .. import errors
from ..archiver.identity import IncarnationError
from ..publisher import TopicMissingError
from ..scaling.planner import PlanRefusedError

__all__ = ["Exit", "exit_for", "guarded", "stop_on_signals"]

P = ParamSpec("P")


class Exit(IntEnum):
    """One meaning per code, for every command."""

    #: Done; in sync; healthy.
    OK = 0
    #: The command ran and found something wrong: drift, degraded health, a WARN group, bad
    #: input lines or undelivered packets, verify problems, a missing or empty archive, no such
    #: topic or group for describe/alter/lag --group.
    PROBLEM = 1
    #: Bad arguments or settings (click's own usage errors are 2 as well).
    USAGE = 2
    #: The broker or the storage could not be reached, or the broker does not support the
    #: operation (or refused it).
    UNREACHABLE = 3
    #: SASL authentication or TLS failed.
    SECURITY = 4
    #: Refused for safety: a destructive change not confirmed, an archive of another
    #: incarnation of the topic, a reassignment the brokers left cannot hold.
    REFUSED = 5
    #: produce/simulate/consume/monitor/archive: the topic does not exist.
    TOPIC_MISSING = 6
    #: monitor: a partition without a leader; lag: a group in STALL, STOP, REWIND or ERR.
    UNHEALTHY = 7
    #: lag: lag seen in one sample only, no trend yet.
    UNKNOWN = 8
    #: simulate/up/spool drain: packets were left in the spool (spooled, not lost: the next
    #: run with the same --spool, or `spool drain`, delivers them); spool status: it holds some.
    SPOOLED = 9


def exit_for(exc: BaseException) -> Exit:
    """The exit code for an error of this package (the only such mapping)."""
    if isinstance(exc, errors.ConfigError):
        return Exit.USAGE
    if isinstance(exc, errors.SecurityError):
        return Exit.SECURITY
    if isinstance(exc, TopicMissingError):
        return Exit.TOPIC_MISSING
    if isinstance(exc, IncarnationError | PlanRefusedError):
        return Exit.REFUSED
    if isinstance(exc, errors.TopicError) and exc.code == "UNKNOWN_TOPIC_OR_PART":
        return Exit.PROBLEM  # describe/alter/trim of a topic that is not there
    if isinstance(exc, errors.StorageError | errors.BrokerError):
        return Exit.UNREACHABLE  # unreachable, unsupported or refused by the broker
    return Exit.PROBLEM


def fail_with(exc: BaseException) -> typer.Exit:
    """Print ``error: <exc>`` on stderr; the :class:`typer.Exit` to raise for it."""
    from .common import err_console

    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
    return typer.Exit(exit_for(exc))


def guarded(command: Callable[P, Any]) -> Callable[P, Any]:
    """Run ``command``; an error of this package becomes one line on stderr and its code."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> Any:
        try:
            return command(*args, **kwargs)
        except errors.HorizonsError as exc:
            raise fail_with(exc) from None

    return run


_END = b"\0"  # written by this module when leaving: no signal has the number 0
_SIGNALS = (signal.SIGINT,) if sys.platform == "win32" else (signal.SIGINT, signal.SIGTERM)
_NUMBERS = frozenset(int(sig) for sig in _SIGNALS)


@contextlib.contextmanager
def stop_on_signals(
    stop: threading.Event | None = None, *, force: bool = True, interrupt: bool = False
) -> Iterator[threading.Event]:
    """SIGINT and SIGTERM set ``stop`` (a new event when None) while inside; restored after.

    Neither raises: a KeyboardInterrupt inside a confluent-kafka call (``produce()``) is
    reported by its C code as a wrong TypeError. The command checks the event between steps
    and finishes cleanly (flush, report). With ``force``, a second signal raises
    KeyboardInterrupt to stop at once. ``interrupt`` raises KeyboardInterrupt on the first
    signal as well, for a plain blocking wait with no Kafka client call and no event to check
    (``broker --engine kafka``). Off the main thread nothing is installed.
    """
    event = stop if stop is not None else threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return
    # The kernel hands a process's signal to any thread that does not block it, and Python
    # runs its handler only when the main thread next runs bytecode. A main thread blocked in
    # a plain stop.wait() never does if the signal landed on another thread (uvicorn's, a
    # poller's): serve then ignored SIGTERM. Setting the event in the handler could also
    # deadlock inside that wait, which holds the event's lock. So the event is set by a relay
    # thread that reads the signal wakeup fd, which the C-level handler writes to from
    # whichever thread took the signal; the Python handler only counts, to force a stop.
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    received = 0

    def relay() -> None:
        while True:
            try:
                got = reader.recv(64)
            except OSError:
                return
            if any(number in _NUMBERS for number in got):  # one of ours, not another handler's
                event.set()
            if not got or _END in got:
                return

    def handle(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        received += 1
        if interrupt or (received > 1 and force):
            raise KeyboardInterrupt

    helper = threading.Thread(target=relay, name="signal-relay", daemon=True)
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    helper.start()
    previous = {sig: signal.signal(sig, handle) for sig in _SIGNALS}
    try:
        yield event
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        signal.set_wakeup_fd(previous_fd)
        with contextlib.suppress(OSError):
            writer.send(_END)
        helper.join(5)
        writer.close()
        reader.close()
