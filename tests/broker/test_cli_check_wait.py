"""`horizons check --wait`: waits for a broker that starts late, gives up on an absent one."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from cosmic_horizons.broker import EmbeddedBroker, find_free_port


def _horizons(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cosmic_horizons", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_wait_finds_a_broker_that_starts_after_the_command() -> None:
    port = find_free_port()
    broker = EmbeddedBroker(port)
    first_failure = threading.Event()

    def start_late() -> None:
        # Start only once the command has seen the broker missing, then a moment later.
        if first_failure.wait(60):
            time.sleep(1.0)
            broker.start()

    starter = threading.Thread(target=start_late, daemon=True)
    starter.start()
    proc = _horizons("check", "-b", broker.bootstrap, "--timeout", "1", "--wait", "60s")
    try:
        assert proc.stderr is not None
        seen: list[str] = []
        for line in proc.stderr:
            seen.append(line)
            if "not reachable yet; retrying" in line:
                first_failure.set()
                break
        assert first_failure.is_set(), "".join(seen)
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, "".join(seen) + err
        assert f"Kafka at {broker.bootstrap}: reachable" in out
        assert "cluster id: cosmic-horizons-dev" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        starter.join(30)
        broker.stop()


def test_wait_on_an_absent_broker_times_out_with_exit_3() -> None:
    absent = f"127.0.0.1:{find_free_port()}"
    started = time.monotonic()
    proc = _horizons("check", "-b", absent, "--timeout", "1", "--wait", "3s")
    out, err = proc.communicate(timeout=90)
    elapsed = time.monotonic() - started
    assert proc.returncode == 3, out + err
    assert "still unreachable after waiting 3 s" in err
    assert elapsed >= 3.0, f"gave up after {elapsed:.1f} s"


def test_wait_rejects_a_bad_duration() -> None:
    proc = _horizons("check", "-b", "127.0.0.1:9", "--wait", "soon")
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 2
    assert "--wait: 'soon' is not a duration" in err
