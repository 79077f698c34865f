"""The exit codes of every ``horizons`` command, the one mapping from this package's errors to
them, and the one way long-running commands stop on SIGINT/SIGTERM.

The table is documented in docs/exit-codes.md; a unit test keeps the two in step.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import signal
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


_SIGNALS = (signal.SIGINT,) if sys.platform == "win32" else (signal.SIGINT, signal.SIGTERM)


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
    # The handler runs in the main thread between two bytecodes, possibly inside that
    # thread's own event.wait() while it holds the event's lock: event.set() there would
    # wait for that lock forever (a deadlock seen as `up` ignoring SIGTERM). So the handler
    # only puts the signal on a SimpleQueue (whose put() is safe in a signal handler), and a
    # helper thread sets the event.
    signals: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    received = 0

    def relay() -> None:
        while signals.get() is not None:
            event.set()

    def handle(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        again = received > 0 or event.is_set()  # is_set() takes no lock
        received += 1
        signals.put(signum)
        if interrupt or (again and force):
            raise KeyboardInterrupt

    helper = threading.Thread(target=relay, name="signal-relay", daemon=True)
    helper.start()
    previous = {sig: signal.signal(sig, handle) for sig in _SIGNALS}
    try:
        yield event
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        signals.put(None)
        helper.join(5)
