"""SIGTERM stops ``simulate`` and ``up`` cleanly at any moment: the final delivery report,
exit 0, never a traceback (no KeyboardInterrupt inside a Kafka client call)."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from cosmic_horizons.broker import find_free_port
from cosmic_horizons.config import KafkaSettings

ROUNDS = 4


def _stop_at_random(
    cmd: list[str], log: Path, cwd: Path, rng: random.Random, env: dict[str, str] | None = None
) -> str:
    """Start ``horizons cmd``, wait until it is streaming, SIGTERM it at a random moment;
    its whole output."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cosmic_horizons", *cmd],
            stdout=out,
            stderr=out,
            cwd=cwd,
            env={**(os.environ if env is None else env), "PYTHONFAULTHANDLER": "1"},
        )
        try:
            deadline = time.monotonic() + 60
            while b"streaming" not in log.read_bytes() and b"simulating" not in log.read_bytes():
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 1.5))  # mid-tick, mid-flush or between ticks
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGABRT)  # faulthandler: every thread's stack
                proc.wait(10)
                raise AssertionError(
                    "not stopped 60 s after SIGTERM:\n" + log.read_text()[-12_000:]
                ) from None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "Traceback" not in text and "TypeError" not in text, text
    assert re.search(r"delivered ([\d,]+) of \1; failed 0", text), text
    return text


def test_sigterm_stops_simulate_cleanly_at_random_moments(
    settings: KafkaSettings, tmp_path: Path
) -> None:
    rng = random.Random(7)
    bootstrap = settings.bootstrap_servers or ""
    for n in range(ROUNDS):
        text = _stop_at_random(
            ["simulate", "--elements", "200", "--rate", "50", "-b", bootstrap,
             "-t", settings.topic],
            tmp_path / f"simulate-{n}.log",
            tmp_path,
            rng,
        )  # fmt: skip
        assert "stopping: flushing queued packets..." in text, text


def test_sigterm_stops_up_cleanly_at_random_moments(tmp_path: Path) -> None:
    rng = random.Random(11)
    for n in range(ROUNDS):
        text = _stop_at_random(
            ["up", "--port", str(find_free_port()), "--no-api", "--elements", "100",
             "--rate", "20"],
            tmp_path / f"up-{n}.log",
            tmp_path,
            rng,
            env={k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "HORIZONS_"))},
        )  # fmt: skip
        assert "embedded broker stopped" in text, text
