"""Least privilege on a real authorizer: after ``horizons acls apply`` every component runs with
its own principal and only its ACLs; a principal missing one ACL is one clear line, exit 4,
nothing written. Kafka only (the fixture's reason: Tansu has no SASL or ACLs).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AclBindingFilter

from cosmic_horizons.acls import acl_plan, bindings
from cosmic_horizons.broker import find_free_port
from cosmic_horizons.cli.exits import Exit
from cosmic_horizons.packet import encode_packet
from tests.helpers import make_packet
from tests.security.conftest import Run, SecureKafka
from tests.security.test_secured_kafka import _one_clear_line, _record_count

pytestmark = pytest.mark.timeout(180)

TOPIC = f"acl.{uuid.uuid4().hex[:8]}"


def _as(secure_kafka: SecureKafka, role: str, topic: str = TOPIC) -> dict[str, str]:
    return secure_kafka.env(f"horizons-{role}", HORIZONS_TOPIC=topic)


def _ok(run: Run) -> Run:
    assert run.code == 0, run.output
    return run


@pytest.fixture(scope="module")
def applied(secure_kafka: SecureKafka) -> Iterator[SecureKafka]:
    """The plan for TOPIC applied as the admin (checked missing before, idempotent after)."""
    admin = secure_kafka.env("admin", HORIZONS_TOPIC=TOPIC)
    before = secure_kafka.horizons("acls", "check", env=admin)
    assert before.code == Exit.PROBLEM, before.output
    assert f"User:horizons-publisher (publisher): missing Write on topic {TOPIC}" in before.stdout
    first = _ok(secure_kafka.horizons("acls", "apply", env=admin))
    total = len(bindings(acl_plan(TOPIC)))
    assert "created" in first.stderr and "User:horizons-archiver" in first.stderr
    second = _ok(secure_kafka.horizons("acls", "apply", env=admin))
    assert f"nothing to create: all {total} ACL(s) are present" in second.stderr
    after = _ok(secure_kafka.horizons("acls", "check", env=admin))
    assert "missing" not in after.output
    yield secure_kafka


def test_operator_manages_the_topics(applied: SecureKafka) -> None:
    env = _as(applied, "operator")
    _ok(applied.horizons("topics", "ensure", "--with-dlq", env=env))
    _ok(applied.horizons("topics", "describe", TOPIC, env=env))
    _ok(applied.horizons("topics", "alter", TOPIC, "--retention", "8d", "--yes", env=env))
    assert TOPIC in _ok(applied.horizons("topics", "list", env=env)).stdout


def test_publisher_simulate_and_produce(applied: SecureKafka) -> None:
    env = _as(applied, "publisher")
    _ok(applied.horizons("simulate", "--count", "12", "--elements", "3", "--sites", "1", env=env))
    data = b"\n".join(encode_packet(make_packet(i)) for i in range(3)).decode()
    proc = _run_stdin(applied, ["produce", "-"], env, data)
    assert proc.code == 0, proc.output
    assert _record_count(applied, TOPIC) == 15


def test_monitor_lag_and_consume(applied: SecureKafka) -> None:
    env = _as(applied, "monitor")
    monitor = _ok(applied.horizons("monitor", "--json", env=env))
    assert json.loads(monitor.stdout)["latestOffset"] == 15
    lag = applied.horizons("lag", "--samples", "1", env=env)
    assert lag.code in (Exit.OK, Exit.UNKNOWN), lag.output  # no group of this topic has lag yet
    consume = _ok(
        applied.horizons(
            "consume", "--from-beginning", "--max-messages", "15", "--timeout", "20s", env=env
        )
    )
    assert len([line for line in consume.stdout.splitlines() if line.startswith("{")]) == 15


def test_serve_as_monitor(applied: SecureKafka) -> None:
    # Before the archiver's test: its trim empties the topic, and the array view reads records.
    port = find_free_port("127.0.0.1")
    env = _as(applied, "monitor")
    cmd = [sys.executable, "-m", "cosmic_horizons", "--log-level", "debug", "serve"]
    cmd += ["--port", str(port), "--from-beginning", "--poll-interval", "0.5"]
    proc = subprocess.Popen(
        cmd, env=_full_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    bodies: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                ready = json.loads(_get(port, "/api/ready"))
            except OSError:
                ready = {}
            if ready.get("ready") and json.loads(_get(port, "/api/array")).get("records"):
                break
            time.sleep(0.5)
        for route in ("/api/health", "/api/ready", "/api/array", "/api/topics",
                      "/api/messaging/snapshot", "/api/messaging/lag", "/api/messaging/stats",
                      "/metrics"):  # fmt: skip
            bodies[route] = _get(port, route)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
        applied.runs.append(Run(cmd, proc.returncode, out, err))
        applied.runs.append(Run(["(responses)"], 0, json.dumps(bodies), ""))
    assert json.loads(bodies["/api/ready"])["ready"] is True, bodies
    array = json.loads(bodies["/api/array"])
    assert array["records"] > 0 and array["consumerError"] is None, array
    assert json.loads(bodies["/api/messaging/snapshot"])["error"] is None
    assert TOPIC in bodies["/api/topics"]
    assert "horizons_kafka_connected 1.0" in bodies["/metrics"]


def test_archiver_archives_and_dead_letters(applied: SecureKafka, tmp_path: Path) -> None:
    conf = applied.settings("admin").client_config("test-bad-record")
    conf.pop("logger", None)
    producer = Producer(conf)
    producer.produce(TOPIC, b"not a packet", b"bad")
    assert producer.flush(15) == 0
    storage = f"file://{tmp_path / 'archive'}"
    env = _as(applied, "archiver")
    run = _ok(
        applied.horizons(
            "archive", "run", "--storage", storage, "--flush-at-end", "--stop-at-end",
            "--workers", "0", env=env, timeout=90,
        )
    )  # fmt: skip
    assert "16 rows" in run.stderr or "15 rows" in run.stderr, run.stderr
    assert _record_count(applied, f"{TOPIC}.dlq") == 1
    trim = _ok(
        applied.horizons(
            "topics", "trim", TOPIC, "--archived", "--storage", storage, "--json",
            env=_as(applied, "operator"),
        )
    )  # fmt: skip
    assert json.loads(trim.stdout)["applied"] is True


def test_a_missing_acl_is_one_line_naming_it(applied: SecureKafka) -> None:
    topic = f"acl.{uuid.uuid4().hex[:8]}"
    admin = applied.env("admin", HORIZONS_TOPIC=topic)
    _ok(applied.horizons("acls", "apply", env=admin))
    _ok(applied.horizons("topics", "ensure", env=admin))
    publisher = next(r for r in acl_plan(topic) if r.role == "publisher")
    gone = next(b for b in bindings([publisher]) if b.operation.name == "DESCRIBE_CONFIGS")
    client = applied.cluster.admin(10)
    wanted = AclBindingFilter(
        gone.restype, gone.name, gone.resource_pattern_type, gone.principal, gone.host,
        gone.operation, gone.permission_type,
    )  # fmt: skip
    for future in client.delete_acls([wanted]).values():
        future.result(15)
    check = applied.horizons("acls", "check", env=admin)
    assert check.code == Exit.PROBLEM, check.output
    assert f"(publisher): missing DescribeConfigs on topic {topic}" in check.stdout
    env = _as(applied, "publisher", topic)
    run = applied.horizons("simulate", "--count", "5", "--elements", "1", "--sites", "1", env=env)
    _one_clear_line(run, f"DescribeConfigs on {topic}", "not authorized", "ACL")
    assert _record_count(applied, topic) == 0


def test_acls_print_forms(applied: SecureKafka) -> None:
    env = applied.env("admin", HORIZONS_TOPIC=TOPIC)
    text = _ok(applied.horizons("acls", "--print", env=env, debug=False)).stdout
    publisher = "--allow-principal User:horizons-publisher --operation Write --operation Describe"
    assert f"{publisher} --topic {TOPIC}" in text
    yaml_text = _ok(applied.horizons("acls", "--print", "--format", "strimzi", env=env)).stdout
    assert yaml_text.count("kind: KafkaUser") == 4


def _get(port: int, route: str) -> str:
    """The body of a GET, whatever its status (a 503 carries the reason)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{route}", timeout=10) as resp:
            return str(resp.read().decode())
    except urllib.error.HTTPError as exc:
        return str(exc.read().decode())


def _full_env(env: dict[str, str]) -> dict[str, str]:
    import os

    from tests.security.conftest import _KAFKA_VARS

    base = {k: v for k, v in os.environ.items() if k not in _KAFKA_VARS}
    base.update(env)
    return base


def _run_stdin(secure_kafka: SecureKafka, args: list[str], env: dict[str, str], data: str) -> Run:
    cmd = [sys.executable, "-m", "cosmic_horizons", "--log-level", "debug", *args]
    proc = subprocess.run(
        cmd, env=_full_env(env), input=data, capture_output=True, text=True, timeout=60, check=False
    )
    run = Run(cmd, proc.returncode, proc.stdout, proc.stderr)
    secure_kafka.runs.append(run)
    return run
