"""Every command that talks to Kafka: a failed SASL handshake is exit 4 and says so.

The embedded broker's listener speaks PLAINTEXT, so a SASL_PLAINTEXT client fails the
handshake there; no command may call that "unreachable" or suggest starting a broker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

SASL_ENV = {
    "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "KAFKA_SASL_MECHANISM": "PLAIN",
    "KAFKA_SASL_USERNAME": "array",
    "KAFKA_SASL_PASSWORD": "hunter2",
}


@pytest.mark.parametrize(
    "args",
    [
        ["monitor"],
        ["lag", "--samples", "1"],
        ["simulate", "--count", "5"],
        ["serve", "--port", "0"],
        ["archive", "run", "--stop-at-end"],
        ["topics", "describe", "element.raw_data"],
    ],
    ids=lambda a: a[0] if a[0] != "archive" else "archive-run",
)
def test_a_failed_sasl_handshake_is_exit_4(
    args: list[str], bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    extra = ["-t", topic_name] if args[0] in ("monitor", "simulate", "serve", "archive") else []
    if args[0] == "archive":
        extra += ["--storage", tmp_path.as_uri()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    result = subprocess.run(
        [sys.executable, "-m", "cosmic_horizons", *args, *extra, "-b", bootstrap],
        env={**env, **SASL_ENV},
        capture_output=True,
        timeout=120,
        check=False,
    )
    text = (result.stdout + result.stderr).decode()
    assert result.returncode == 4, text
    assert "SASL authentication failed" in text
    assert "KAFKA_SASL_USERNAME" in text  # what to check
    assert "horizons broker" not in text
    assert "|FAIL|" not in text and "Traceback" not in text


def test_check_wait_stops_at_once_on_a_failed_handshake(bootstrap: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "cosmic_horizons", "check", "--wait", "60s", "-b", bootstrap],
        env={**env, **SASL_ENV},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 4
    assert time.monotonic() - started < 30  # not the whole minute
    assert "still unreachable" not in result.stderr.decode()


def test_broker_config_reports_a_failed_handshake(bootstrap: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    result = subprocess.run(
        [sys.executable, "-m", "cosmic_horizons", "broker-config", "-b", bootstrap],
        env={**env, **SASL_ENV},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 4, result.stderr.decode()
    assert "SASL authentication failed" in result.stderr.decode()
