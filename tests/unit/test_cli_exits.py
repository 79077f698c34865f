"""The one exit-code table: documented once, used by every CLI module, one mapping."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cosmic_horizons import errors
from cosmic_horizons.archiver.identity import IncarnationError
from cosmic_horizons.cli.exits import Exit, exit_for, stop_on_signals
from cosmic_horizons.publisher import TopicMissingError

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "src" / "cosmic_horizons" / "cli"
DOC = ROOT / "docs" / "exit-codes.md"


def test_every_exit_code_is_documented_once_in_the_table() -> None:
    text = DOC.read_text()
    rows = dict(re.findall(r"^\|\s*(\d+)\s*\|\s*`([A-Z_]+)`\s*\|", text, re.MULTILINE))
    assert rows == {str(int(e)): e.name for e in Exit}


def test_no_cli_module_defines_its_own_exit_codes() -> None:
    own = re.compile(
        r"^\s*_?EXIT_\w+\s*(:\s*\w+)?\s*=|typer\.Exit\(\s*\d|sys\.exit\(\s*\d+\s*\)"
        r"|fail\([^)]*,\s*\d+\s*\)",
        re.MULTILINE,
    )
    found = {
        f"{path.name}: {m.group(0).strip()}"
        for path in CLI.glob("*.py")
        for m in own.finditer(path.read_text())
        # 130: the shell's code for a forced stop (a second Ctrl-C), not a horizons code.
        if path.name != "exits.py" and m.group(0) != "sys.exit(130)"
    }
    assert not found
    assert "class Exit(IntEnum)" in (CLI / "exits.py").read_text()


def test_no_cli_module_installs_its_own_signal_handlers() -> None:
    for path in CLI.glob("*.py"):
        if path.name != "exits.py":
            assert "signal.signal(" not in path.read_text(), path.name


def test_no_cli_module_is_too_long_and_there_is_no_core() -> None:
    assert not (CLI / "core.py").exists()
    for path in CLI.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 420, path.name


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.ConfigError("bad"), Exit.USAGE),
        (errors.PacketError("f", "bad"), Exit.PROBLEM),
        (errors.BrokerUnavailableError("down"), Exit.UNREACHABLE),
        (errors.UnsupportedByBrokerError("DeleteRecords", "unsupported"), Exit.UNREACHABLE),
        (errors.AuthenticationError("SASL"), Exit.SECURITY),
        (errors.TLSError("TLS"), Exit.SECURITY),
        (errors.TopicError("gone", code="UNKNOWN_TOPIC_OR_PART"), Exit.PROBLEM),
        (errors.TopicError("refused", code="POLICY_VIOLATION"), Exit.UNREACHABLE),
        (TopicMissingError("t", "localhost:9092"), Exit.TOPIC_MISSING),
        (errors.PublishError("undelivered"), Exit.PROBLEM),
        (errors.ArchiveError("bad file"), Exit.PROBLEM),
        (errors.StorageError("no bucket"), Exit.UNREACHABLE),
        (IncarnationError("another incarnation"), Exit.REFUSED),
    ],
)
def test_one_mapping_from_errors_to_codes(error: Exception, code: Exit) -> None:
    assert exit_for(error) is code


def test_a_signal_sets_the_event_and_a_second_one_forces_exit() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals() as stop:
        signal.raise_signal(signal.SIGTERM)
        assert stop.wait(5)  # set by the relay thread, at once
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before
    given = threading.Event()
    with stop_on_signals(given, force=False) as stop:
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)  # no force: still only the event
        assert stop is given and given.wait(5)


_INSIDE_WAIT = """
import os, signal, time
from cosmic_horizons.cli.exits import stop_on_signals
with stop_on_signals() as stop:
    with stop._cond:  # where the main thread's own stop.wait() holds the event's lock
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.3)  # the handler runs here, with the lock held
    assert stop.wait(5)
print("stopped")
"""


def test_a_signal_inside_the_events_own_wait_does_not_deadlock() -> None:
    """The handler runs in the main thread, maybe inside its own stop.wait() while that holds
    the event's lock: setting the event there waited for that lock forever (``up`` then
    ignored SIGTERM). Now the signal is relayed to a thread that sets it."""
    proc = subprocess.run(
        [sys.executable, "-c", _INSIDE_WAIT], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "stopped" in proc.stdout, proc.stderr


_ON_ANOTHER_THREAD = """
import signal, threading
from cosmic_horizons.cli.exits import stop_on_signals
with stop_on_signals() as stop:
    idle = threading.Event()
    other = threading.Thread(target=idle.wait, daemon=True)
    other.start()
    # The kernel may hand a kill(pid) to any thread; this one makes it another thread.
    threading.Timer(0.3, signal.pthread_kill, (other.ident, signal.SIGTERM)).start()
    stop.wait()  # a plain wait, as serve's: the main thread runs no bytecode until it ends
    idle.set()
print("stopped")
"""


def test_a_signal_taken_by_another_thread_still_ends_a_plain_wait() -> None:
    """Python runs a signal's handler only in the main thread, when it next runs bytecode: a
    main thread in a plain ``stop.wait()`` never did if another thread took the signal (serve
    then ignored SIGTERM). The wakeup fd wakes the relay thread, whichever thread took it."""
    proc = subprocess.run(
        [sys.executable, "-c", _ON_ANOTHER_THREAD], capture_output=True, text=True, timeout=20
    )
    assert proc.returncode == 0 and "stopped" in proc.stdout, proc.stderr
