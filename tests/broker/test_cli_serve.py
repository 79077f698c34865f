"""``horizons serve`` as an operator runs it: prints its address, serves, stops on SIGTERM."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx

from cosmic_horizons.config import KafkaSettings
from tests.helpers import create_topic, sigterm_and_wait


def test_serve_prints_its_address_and_stops_on_sigterm(settings: KafkaSettings) -> None:
    create_topic(settings.bootstrap_servers or "", settings.topic, 1)
    env = {**os.environ, "COLUMNS": "300", "NO_COLOR": "1", "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cosmic_horizons.cli.main",
            "serve",
            "--bootstrap",
            settings.bootstrap_servers or "",
            "--topic",
            settings.topic,
            "--port",
            "0",
            "--poll-interval",
            "0.5",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"dashboard (http://127\.0\.0\.1:\d+)/", line)
        assert match, line
        url = match.group(1)
        with httpx.Client(base_url=url, timeout=10.0) as client:
            assert client.get("/api/health").json()["status"] == "ok"
            assert "<title>" in client.get("/").text
            deadline = time.monotonic() + 60
            while client.get("/api/ready").status_code != 200:
                assert time.monotonic() < deadline, "never ready against a live broker"
                time.sleep(0.25)
            snap = client.get("/api/messaging/snapshot").json()
            assert snap["connected"] is True and snap["topic"] == settings.topic
        code, rest = sigterm_and_wait(proc)
        assert code == 0
        assert "API stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_with_a_token_guards_every_route_but_health(settings: KafkaSettings) -> None:
    create_topic(settings.bootstrap_servers or "", settings.topic, 1)
    token = "cli-serve-test-token-0042"
    env = {
        **os.environ,
        "COLUMNS": "300",
        "NO_COLOR": "1",
        "HORIZONS_API_TOKEN": token,
        "PYTHONFAULTHANDLER": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cosmic_horizons.cli.main", "serve",
         "--bootstrap", settings.bootstrap_servers or "", "--topic", settings.topic,
         "--port", "0", "--max-streams", "1"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline() + proc.stderr.readline()
        assert "token required (HORIZONS_API_TOKEN)" in banner and token not in banner
        match = re.search(r"dashboard (http://127\.0\.0\.1:\d+)/", banner)
        assert match, banner
        with httpx.Client(base_url=match.group(1), timeout=10.0) as client:
            assert client.get("/api/health").status_code == 200
            assert client.get("/api/topics").status_code == 401
            bearer = {"Authorization": f"Bearer {token}"}
            assert client.get("/api/topics", headers=bearer).status_code == 200
            with client.stream("GET", "/api/stream", headers=bearer) as first:
                assert first.status_code == 200
                second = client.get("/api/stream", headers=bearer)
                assert second.status_code == 503 and "allows 1 at once" in second.text
        code, rest = sigterm_and_wait(proc)
        assert code == 0, rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
