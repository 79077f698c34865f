"""The core commands end to end, as an operator runs them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from cosmic_horizons.broker import find_free_port
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.packet import decode_packet, encode_packet
from cosmic_horizons.topics import TopicAdmin
from tests.engines import only_kafka
from tests.helpers import consume_all, create_topic, fast_consumer, make_packet


def horizons(
    *args: str, stdin: bytes | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cosmic_horizons", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def test_produce_reports_bad_lines_and_sends_good_ones(
    settings: KafkaSettings, tmp_path: Path
) -> None:
    bootstrap = settings.bootstrap_servers or ""
    create_topic(bootstrap, settings.topic)
    good = [make_packet(i) for i in range(6)]
    lines = [
        encode_packet(good[0]),
        b"{not json",
        encode_packet(good[1]),
        b"",
        json.dumps({"sourceId": "element-1-1"}).encode(),
        encode_packet(good[2]),
        encode_packet(good[3]).replace(b'"node_to_hub"', b'"sideways"'),
        encode_packet(good[4]),
        encode_packet(good[5]),
    ]
    source = tmp_path / "packets.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    result = horizons("produce", str(source), "-b", bootstrap, "-t", settings.topic)
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert f"{source}:2: $: not valid JSON" in err
    assert f"{source}:5: $.targetId: required field is missing" in err
    assert f"{source}:7: $.routeType:" in err
    assert "3 bad line(s) skipped; 5 packet(s) sent" in err
    got = consume_all(bootstrap, settings.topic, 5)
    assert sorted(decode_packet(m.value() or b"").element_id for m in got) == sorted(
        p.element_id for p in [good[0], good[1], good[2], good[4], good[5]]
    )


def test_produce_from_stdin_all_good_exits_zero(settings: KafkaSettings) -> None:
    bootstrap = settings.bootstrap_servers or ""
    create_topic(bootstrap, settings.topic)
    data = b"\n".join(encode_packet(make_packet(i)) for i in range(10))
    result = horizons("produce", "-", "-b", bootstrap, "-t", settings.topic, stdin=data)
    assert result.returncode == 0, result.stderr.decode()
    consume_all(bootstrap, settings.topic, 10)


def test_simulate_then_consume_from_beginning(settings: KafkaSettings) -> None:
    bootstrap = settings.bootstrap_servers or ""
    create_topic(bootstrap, settings.topic)
    sim = horizons(
        "simulate",
        "--elements",
        "12",
        "--sites",
        "3",
        "--rate",
        "50",
        "--count",
        "40",
        "--seed",
        "7",
        "-b",
        bootstrap,
        "-t",
        settings.topic,
    )
    assert sim.returncode == 0, sim.stderr.decode()
    assert "delivered 40 of 40; failed 0" in sim.stderr.decode()
    out = horizons(
        "consume",
        "--from-beginning",
        "--max-messages",
        "40",
        "-b",
        bootstrap,
        "-t",
        settings.topic,
    )
    assert out.returncode == 0, out.stderr.decode()
    packets = [decode_packet(line) for line in out.stdout.splitlines()]
    assert len(packets) == 40
    assert {p.site_id for p in packets} == {"site-1", "site-2", "site-3"}


def test_check_reachable_and_unreachable(bootstrap: str) -> None:
    ok = horizons("check", "-b", bootstrap, "--json")
    assert ok.returncode == 0
    report = json.loads(ok.stdout)
    assert report["reachable"] is True and report["brokers"] and report["latency_ms"] >= 0
    bad = horizons("check", "-b", "127.0.0.1:1", "--timeout", "2")
    assert bad.returncode == 1
    assert "unreachable" in bad.stderr.decode() and "hint:" in bad.stderr.decode()


def test_schema_prints_json_schema() -> None:
    result = horizons("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout)["title"] == "KafkaPayload"


def test_sigterm_flushes_and_reports(settings: KafkaSettings) -> None:
    bootstrap = settings.bootstrap_servers or ""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cosmic_horizons",
            "simulate",
            "--elements",
            "20",
            "--rate",
            "20",
            "-b",
            bootstrap,
            "-t",
            settings.topic,
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    # Stop it once it is streaming: its topic exists and holds a record (not after a fixed
    # sleep, which a loaded machine can outlast before the first packet is sent).
    deadline = time.monotonic() + 60
    admin = TopicAdmin(settings)
    while not admin.exists(settings.topic):
        assert proc.poll() is None, proc.communicate()[1].decode()
        assert time.monotonic() < deadline, "simulate never created its topic"
        time.sleep(0.2)
    _wait_for_a_record(bootstrap, settings.topic, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    text = err.decode()
    assert proc.returncode == 0, text
    match = re.search(r"delivered ([\d,]+) of ([\d,]+); failed 0", text)
    assert match, text
    delivered = int(match.group(1).replace(",", ""))
    assert delivered == int(match.group(2).replace(",", "")) > 0
    consume_all(bootstrap, settings.topic, delivered)


def _wait_for_a_record(
    bootstrap: str, topic: str, proc: subprocess.Popen[bytes], timeout: float = 60
) -> None:
    consumer = fast_consumer(bootstrap)
    consumer.subscribe([topic])
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1].decode()
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                return
    finally:
        consumer.close()
    raise AssertionError(f"no record reached {topic} within {timeout:.0f} s")


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text(errors="replace")
        if text in content:
            return content
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not seen; output so far:\n{path.read_text(errors='replace')}")


def test_up_without_kafka_starts_embedded_broker_streams_and_serves(tmp_path: Path) -> None:
    port = api_port = find_free_port()
    while api_port == port:  # two lookups in a row may return the same free port
        api_port = find_free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "HORIZONS_"))}
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cosmic_horizons",
                "up",
                "--port",
                str(port),
                "--elements",
                "10",
                "--sites",
                "2",
                "--rate",
                "5",
                "--api-port",
                str(api_port),
            ],
            stdout=out,
            stderr=out,
            env=env,
        )
        try:
            _wait_for(log, "streaming 10 elements", proc)
            assert f"embedded broker (Tansu, in-memory) on 127.0.0.1:{port}" in log.read_text()
            assert "created element.raw_data (dev layout)" in log.read_text()
            consume_all(f"127.0.0.1:{port}", "element.raw_data", 20)
            url = _wait_for(log, "dashboard and API on", proc).split("dashboard and API on ")[1]
            url = url.split()[0]
            assert url == f"http://127.0.0.1:{api_port}"
            assert httpx.get(f"{url}/api/health", timeout=10).status_code == 200
            stats = httpx.get(f"{url}/api/messaging/stats", timeout=10).json()
            assert stats["publisher"]["sent"] > 0
            assert "<html" in httpx.get(url, timeout=10).text.lower()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    text = log.read_text()
    assert proc.returncode == 0, text
    assert re.search(r"delivered ([\d,]+) of \1; failed 0", text), text
    assert "embedded broker stopped" in text


def _broker_kafka(data: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``horizons broker --engine kafka`` in the background; the bootstrap it prints."""
    with log.open("ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cosmic_horizons", "broker", "--engine", "kafka",
             "--data", str(data)],
            stdout=subprocess.PIPE,
            stderr=err,
        )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()  # the bootstrap list, alone on stdout
    assert re.fullmatch(r"127\.0\.0\.1:\d+", line), (line, log.read_text())
    return proc, line


@only_kafka("it starts a Kafka cluster of its own")
def test_broker_engine_kafka_prints_its_bootstrap_and_comes_back_on_the_same_data(
    tmp_path: Path, output_dir: Path
) -> None:
    data, log = tmp_path / "kafka", output_dir / "broker.log"
    proc, bootstrap = _broker_kafka(data, log)
    try:
        create_topic(bootstrap, "kept")
        assert horizons("produce", "-", "-b", bootstrap, "-t", "kept",
                        stdin=encode_packet(make_packet(1)) + b"\n").returncode == 0  # fmt: skip
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    assert "Kafka cluster stopped" in log.read_text()

    proc, again = _broker_kafka(data, log)
    try:
        assert again == bootstrap
        assert "restarting Apache Kafka" in log.read_text()
        [msg] = consume_all(again, "kept", 1)
        assert decode_packet(msg.value() or b"") == make_packet(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
