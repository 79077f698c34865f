"""The core commands end to end, as an operator runs them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from confluent_kafka.admin import AdminClient

from cosmic_horizons.broker import find_free_port
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.packet import decode_packet, encode_packet
from cosmic_horizons.topics import TopicAdmin
from tests.engines import only_kafka
from tests.helpers import consume_all, create_topic, fast_consumer, make_packet
from tests.unit.test_partitioner import vectors


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
    assert bad.returncode == 3
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


def test_up_with_binary_encoding_publishes_binary_visibility_packets(tmp_path: Path) -> None:
    # `up` starts its own embedded broker: the engine fixture does not apply.
    from cosmic_horizons.packet import BINARY_CONTENT_TYPE
    from cosmic_horizons.packet_binary import decode_record, is_binary

    port = find_free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "HORIZONS_"))}
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cosmic_horizons", "up", "--port", str(port), "--no-api",
             "--elements", "4", "--sites", "2", "--rate", "5", "--chunk-samples", "64",
             "--encoding", "binary"],
            stdout=out, stderr=out, env=env,
        )  # fmt: skip
        try:
            _wait_for(log, "streaming 4 elements", proc)
            records = consume_all(f"127.0.0.1:{port}", "element.raw_data", 8)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    assert proc.returncode == 0, log.read_text()
    for msg in records:
        headers = dict(msg.headers() or [])
        assert headers["content-type"] == BINARY_CONTENT_TYPE.encode()
        assert is_binary(msg.value())
        packet = decode_record(msg.value(), msg.headers())
        assert packet.data_chunk and len(packet.data_chunk) > 0


# -- progress when the output is a log, not a terminal ---------------------------------------


def _status_lines(
    *cmd: str, prefix: str, wanted: int, env: dict[str, str] | None = None
) -> tuple[list[str], str]:
    """Run ``horizons cmd`` with stdout and stderr on pipes until ``wanted`` lines start
    with ``prefix``, then SIGTERM it; (those lines, the whole output)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cosmic_horizons", *cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    seen: list[str] = []
    status: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if line.startswith(prefix):
                status.append(line)
                if len(status) >= wanted:
                    break
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    return status, "".join(seen) + rest


def test_simulate_prints_a_status_line_periodically_without_a_terminal(
    settings: KafkaSettings,
) -> None:
    bootstrap = settings.bootstrap_servers or ""
    started = time.monotonic()
    status, out = _status_lines(
        *("simulate", "--elements", "5", "--rate", "20", "--status-interval", "0.5s"),
        *("-b", bootstrap, "-t", settings.topic),
        prefix="sent ",
        wanted=3,
    )
    assert len(status) == 3, out
    assert time.monotonic() - started < 60
    for line in status:
        assert re.match(r"sent [\d,]+  delivered [\d,]+  failed 0  in flight", line), line
    assert "\x1b[" not in out  # plain text in a log
    assert re.search(r"delivered ([\d,]+) of \1; failed 0", out), out


def test_status_interval_zero_prints_only_start_and_end(settings: KafkaSettings) -> None:
    bootstrap = settings.bootstrap_servers or ""
    result = horizons(
        "simulate", "--elements", "5", "--rate", "20", "--duration", "2s",
        "--status-interval", "0", "-b", bootstrap, "-t", settings.topic,
    )  # fmt: skip
    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert not [line for line in err.splitlines() if line.startswith("sent ")], err
    bad = horizons("simulate", "--status-interval", "soon", "-b", bootstrap)
    assert bad.returncode == 2
    assert "--status-interval: 'soon' is not a duration" in bad.stderr.decode()


def test_up_prints_a_status_line_periodically_without_a_terminal() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "HORIZONS_"))}
    status, out = _status_lines(
        *("up", "--port", str(find_free_port()), "--no-api", "--elements", "4", "--sites", "2"),
        *("--rate", "5", "--status-interval", "0.5s"),
        prefix="sent ",
        wanted=2,
        env=env,
    )
    assert len(status) == 2, out
    assert "(target 20/s)" in status[-1]
    assert "embedded broker stopped" in out


def test_archive_run_prints_a_status_line_periodically_without_a_terminal(
    settings: KafkaSettings, tmp_path: Path
) -> None:
    bootstrap = settings.bootstrap_servers or ""
    create_topic(bootstrap, settings.topic)
    status, out = _status_lines(
        *("archive", "run", "--storage", (tmp_path / "archive").as_uri(), "--workers", "0"),
        *("--status-interval", "0.5s", "-b", bootstrap, "-t", settings.topic),
        prefix="rows ",
        wanted=2,
    )
    assert len(status) == 2, out
    assert re.match(r"rows 0  files 0  ", status[0]), status
    assert "stopped: 0 rows" in out


def _all_topics(bootstrap: str) -> set[str]:
    """Every topic, listed without naming one (the embedded broker creates a named one)."""
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics)


def test_produce_to_a_missing_topic_exits_6_and_creates_nothing(settings: KafkaSettings) -> None:
    bootstrap = settings.bootstrap_servers or ""
    data = b"\n".join(encode_packet(make_packet(i)) for i in range(3))
    result = horizons("produce", "-", "-b", bootstrap, "-t", settings.topic, stdin=data)
    err = result.stderr.decode()
    assert result.returncode == 6, err
    assert f"topic {settings.topic!r} does not exist" in err
    assert "horizons topics ensure" in err
    assert settings.topic not in _all_topics(bootstrap)


def test_simulate_no_ensure_to_a_missing_topic_exits_6(settings: KafkaSettings) -> None:
    bootstrap = settings.bootstrap_servers or ""
    result = horizons(
        "simulate", "--count", "5", "--no-ensure", "-b", bootstrap, "-t", settings.topic
    )
    err = result.stderr.decode()
    assert result.returncode == 6, err
    assert "horizons topics ensure" in err
    assert settings.topic not in _all_topics(bootstrap)


def test_produce_partitioner_option_and_bad_value(settings: KafkaSettings) -> None:
    bootstrap = settings.bootstrap_servers or ""
    create_topic(bootstrap, settings.topic, partitions=5)
    elements = [f"element-3-{n}" for n in range(1, 41)]
    data = b"\n".join(encode_packet(make_packet(1, element=e)) for e in elements)
    args = ("produce", "-", "-b", bootstrap, "-t", settings.topic)
    bad = horizons(*args, "--partitioner", "legacy", stdin=data)
    assert bad.returncode == 2
    assert (
        "--partitioner='legacy': expected one of java, kafkajs-legacy, consistent_random"
        in bad.stderr.decode()
    )
    ok = horizons(*args, "--partitioner", "kafkajs-legacy", stdin=data)
    assert ok.returncode == 0, ok.stderr.decode()
    doc = vectors()
    legacy = dict(zip(doc["text_keys"], doc["legacy"]["5"]["text"], strict=True))
    got = consume_all(bootstrap, settings.topic, len(elements))
    assert {(m.key() or b"").decode(): m.partition() for m in got} == {
        e: legacy[e] for e in elements
    }


def test_sigint_during_produce_from_a_pipe_flushes_and_reports(
    settings: KafkaSettings, tmp_path: Path
) -> None:
    # Ctrl-C used to land inside confluent-kafka's produce() now and then, which then failed
    # with "TypeError: expected header key to be unicode string": several rounds, signalled
    # at different moments, each must end with its delivery report and exit 0.
    bootstrap = settings.bootstrap_servers or ""
    for round_ in range(4):
        topic = f"{settings.topic}.{round_}"
        create_topic(bootstrap, topic)
        log = tmp_path / f"produce-{round_}.log"
        with log.open("wb") as err:
            command = ["produce", "-", "-b", bootstrap, "-t", topic]
            proc = subprocess.Popen(
                [sys.executable, "-m", "cosmic_horizons", *command],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            sent_lines: list[bytes] = []

            def feed(proc: subprocess.Popen[bytes] = proc, lines: list[bytes] = sent_lines) -> None:
                assert proc.stdin is not None
                try:
                    for start in range(0, 10_000_000, 500):
                        chunk = [encode_packet(make_packet(i)) for i in range(start, start + 500)]
                        lines.extend(chunk)
                        proc.stdin.write(b"\n".join(chunk) + b"\n")
                        proc.stdin.flush()
                except (BrokenPipeError, OSError, ValueError):
                    pass

            feeder = threading.Thread(target=feed, daemon=True)
            feeder.start()
            _wait_for_a_record(bootstrap, topic, proc)
            time.sleep(0.1 * round_)
            proc.send_signal(signal.SIGINT)
            proc.wait(90)
            feeder.join(30)
        text = log.read_text()
        assert proc.returncode == 0, text
        assert "interrupted: flushing what was read..." in text, text
        match = re.search(r"delivered ([\d,]+) of ([\d,]+); failed 0", text)
        assert match, text
        delivered = int(match.group(1).replace(",", ""))
        assert delivered == int(match.group(2).replace(",", "")) > 0
        # What was reported delivered is in the topic: the first lines fed, each once.
        got = consume_all(bootstrap, topic, delivered)
        assert [m.value() for m in got] == sent_lines[:delivered]


# -- consume and check: failures are one line with their own exit code ---------------------

SASL_ENV = {
    "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "KAFKA_SASL_MECHANISM": "scram-sha-256",  # lower case is accepted
    "KAFKA_SASL_USERNAME": "array",
    "KAFKA_SASL_PASSWORD": "hunter2",
}


def _horizons_env(
    *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    return subprocess.run(
        [sys.executable, "-m", "cosmic_horizons", *args],
        capture_output=True,
        timeout=timeout,
        check=False,
        env={**clean, **(env or {})},
    )


def _one_error_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "|FAIL|" not in lines[0] and "%3|" not in lines[0]  # no raw librdkafka log
    return lines[0]


def test_consume_missing_topic_is_exit_6(bootstrap: str, topic_name: str) -> None:
    result = _horizons_env("consume", "-b", bootstrap, "-t", topic_name)
    assert result.returncode == 6
    assert f"topic {topic_name!r} does not exist" in _one_error_line(result.stderr)


def test_consume_unreachable_broker_is_exit_3() -> None:
    result = _horizons_env("consume", "-b", f"127.0.0.1:{find_free_port()}", "-t", "x")
    assert result.returncode == 3
    line = _one_error_line(result.stderr)
    assert "broker unreachable" in line and "record(s)" not in line


def test_consume_and_check_report_a_failed_sasl_handshake(bootstrap: str) -> None:
    # The embedded broker's listener speaks PLAINTEXT: a SASL client fails the handshake.
    result = _horizons_env("consume", "-b", bootstrap, "-t", "x", env=SASL_ENV)
    assert result.returncode == 4
    line = _one_error_line(result.stderr)
    assert "SASL authentication failed" in line and "handshake" in line
    assert "unreachable" not in line and "KAFKA_SASL_USERNAME" in line

    result = _horizons_env("check", "-b", bootstrap, env=SASL_ENV)
    assert result.returncode == 4
    err = result.stderr.decode()
    assert "authentication failed" in err and "SASL" in err
    assert "unreachable" not in err and "horizons broker" not in err  # no "start a broker"
    report = json.loads(_horizons_env("check", "-b", bootstrap, "--json", env=SASL_ENV).stdout)
    assert (report["reachable"], report["failure"]) == (False, "authentication")


def test_check_and_consume_report_a_failed_tls_handshake(bootstrap: str) -> None:
    result = _horizons_env("check", "-b", bootstrap, env={"KAFKA_SECURITY_PROTOCOL": "SSL"})
    assert result.returncode == 4
    err = result.stderr.decode()
    assert "TLS handshake failed" in err and "KAFKA_SSL_CA_LOCATION" in err
    assert "unreachable" not in err
    result = _horizons_env(
        "consume", "-b", bootstrap, "-t", "x", env={"KAFKA_SECURITY_PROTOCOL": "SSL"}
    )
    assert result.returncode == 4
    assert "TLS handshake failed" in _one_error_line(result.stderr)


def test_topics_reports_a_failed_sasl_handshake(bootstrap: str) -> None:
    result = _horizons_env("topics", "list", "-b", bootstrap, env=SASL_ENV)
    assert result.returncode == 4
    line = _one_error_line(result.stderr)
    assert "SASL authentication failed" in line and "unreachable" not in line


def test_consume_timeout_starts_at_assignment(settings: KafkaSettings) -> None:
    # The group join takes seconds on the embedded broker; a 1 s timeout must still read all.
    bootstrap = settings.bootstrap_servers or ""
    create_topic(bootstrap, settings.topic)
    data = b"\n".join(encode_packet(make_packet(i)) for i in range(5))
    assert (
        horizons("produce", "-", "-b", bootstrap, "-t", settings.topic, stdin=data).returncode == 0
    )
    result = horizons(
        "consume", "--from-beginning", "--timeout", "1s", "-b", bootstrap, "-t", settings.topic
    )
    assert result.returncode == 0, result.stderr.decode()
    assert len(result.stdout.splitlines()) == 5
    assert "5 record(s)" in result.stderr.decode()


def test_consume_follow_waits_past_the_timeout(settings: KafkaSettings, tmp_path: Path) -> None:
    bootstrap = settings.bootstrap_servers or ""
    create_topic(bootstrap, settings.topic)
    first = b"\n".join(encode_packet(make_packet(i)) for i in range(2))
    assert (
        horizons("produce", "-", "-b", bootstrap, "-t", settings.topic, stdin=first).returncode == 0
    )
    out_path = tmp_path / "out.jsonl"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cosmic_horizons", "consume", "--from-beginning", "--follow",
             "--timeout", "1s", "-b", bootstrap, "-t", settings.topic],
            stdout=out,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while len(out_path.read_bytes().splitlines()) < 2:
                assert proc.poll() is None, proc.communicate()[1].decode()
                assert time.monotonic() < deadline, "the first records never came"
                time.sleep(0.2)
            time.sleep(3)  # well past --timeout: --follow keeps waiting
            assert proc.poll() is None
            late = encode_packet(make_packet(9))
            assert (
                horizons(
                    "produce", "-", "-b", bootstrap, "-t", settings.topic, stdin=late
                ).returncode
                == 0
            )
            while len(out_path.read_bytes().splitlines()) < 3:
                assert proc.poll() is None
                assert time.monotonic() < deadline, "the late record never came"
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert "3 record(s)" in err.decode()


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
