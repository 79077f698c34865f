"""The embedded broker's life: it dies with its parent, a stale one is named, and each run
of it is archived apart by default."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from confluent_kafka import Producer

from cosmic_horizons import broker as broker_mod
from cosmic_horizons.archiver.fileformat import TOPIC_ID_KEY
from cosmic_horizons.broker import (
    EmbeddedBroker,
    find_free_port,
    new_embedded_cluster_id,
    port_is_free,
    tansu_binary,
    tansu_on_port,
)
from cosmic_horizons.errors import BrokerUnavailableError
from cosmic_horizons.packet import encode_packet
from tests.helpers import create_topic, make_packet

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "HORIZONS_"))}
    return {**env, **extra}


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rsplit(b")", 1)[-1].split()[0] != b"Z"


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _wait_until(probe: object, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(probe) and probe():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout:.0f} s")


@pytest.fixture
def detached_tansu() -> Iterator[tuple[int, int]]:
    """A Tansu broker started the way a killed ``horizons broker`` of an older version left
    it: detached (its starter, a shell, exits at once), with an embedded broker's cluster id.
    Yields (pid, port); killed afterwards."""
    port = find_free_port()
    url = f"tcp://127.0.0.1:{port}"
    args = [
        tansu_binary(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--cluster-id",
        new_embedded_cluster_id(),
        "--storage-engine",
        "memory://tansu/",
    ]
    shell = subprocess.run(
        ["sh", "-c", '"$@" </dev/null >/dev/null 2>&1 & echo $!', "sh", *args],
        capture_output=True,
        check=True,
        start_new_session=True,
        timeout=30,
    )
    pid = int(shell.stdout.split()[0])
    try:
        _wait_until(lambda: not port_is_free("127.0.0.1", port), "the detached broker listens", 15)
        yield pid, port
    finally:
        _kill(pid)
        _wait_until(lambda: not _alive(pid), "the detached broker is gone", 10)


def test_sigkilled_broker_command_takes_its_tansu_along(tmp_path: Path) -> None:
    port = find_free_port()
    log = tmp_path / "broker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cosmic_horizons", "broker", "--port", str(port)],
            stdout=out,
            stderr=out,
            env=_env(),
        )
    tansu: list[int] = []
    try:
        _wait_until(lambda: "listening on" in log.read_text(), "`horizons broker` starts", 60)
        held = tansu_on_port(port)
        assert [h.started_by for h in held] == [proc.pid], held
        tansu = [h.pid for h in held]
        assert f"(pid {tansu[0]}, cluster id cosmic-horizons-dev-" in log.read_text()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        _wait_until(lambda: port_is_free("127.0.0.1", port), f"port {port} is free again", 5)
        _wait_until(lambda: not any(_alive(p) for p in tansu), "its Tansu is gone", 5)
        assert tansu_on_port(port) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for pid in tansu:
            _kill(pid)


def test_broker_started_from_a_short_lived_thread_outlives_the_thread() -> None:
    # The parent-death signal follows the thread that forked; the broker must not die when
    # a helper thread that started it returns.
    import threading

    broker = EmbeddedBroker(find_free_port())
    starter = threading.Thread(target=broker.start)
    starter.start()
    starter.join(30)
    try:
        time.sleep(0.5)
        assert broker.running
        assert not port_is_free("127.0.0.1", broker.port)
    finally:
        broker.stop()


def test_default_port_held_by_an_orphaned_embedded_broker_is_named(
    detached_tansu: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    pid, port = detached_tansu
    monkeypatch.setattr(broker_mod, "DEFAULT_PORT", port)
    broker = EmbeddedBroker()
    with pytest.raises(BrokerUnavailableError) as caught:
        broker.start()
    message = str(caught.value)
    assert f"port {port} is held by an orphaned embedded broker (Tansu pid {pid}" in message
    assert f"kill {pid}" in message and "--port" in message
    assert not broker.running


def test_up_names_the_orphaned_broker_holding_its_port(
    detached_tansu: tuple[int, int], tmp_path: Path
) -> None:
    pid, port = detached_tansu
    result = subprocess.run(
        [sys.executable, "-m", "cosmic_horizons", "up", "--port", str(port), "--no-api"],
        capture_output=True,
        env=_env(),
        cwd=tmp_path,
        timeout=90,
        check=False,
    )
    err = result.stderr.decode()
    assert result.returncode == 3, err
    assert "orphaned embedded broker" in err and f"Tansu pid {pid}" in err, err
    assert f"kill {pid}" in err, err
    assert "streaming" not in err
    assert _alive(pid)  # named, not touched


def test_default_port_used_by_a_live_embedded_broker_moves_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with EmbeddedBroker(find_free_port()) as first:
        monkeypatch.setattr(broker_mod, "DEFAULT_PORT", first.port)
        with EmbeddedBroker() as second:
            assert second.port != first.port
            assert second.port_note is not None
            assert f"the embedded broker of the running process {os.getpid()}" in (second.port_note)
            assert second.cluster_id != first.cluster_id


def test_an_older_unmarked_broker_is_orphaned_only_without_a_python_parent(
    detached_tansu: tuple[int, int],
) -> None:
    # Detached: adopted by init, so orphaned (see the fixture).
    pid, port = detached_tansu
    (held,) = tansu_on_port(port)
    assert (held.pid, held.started_by, held.embedded, held.orphaned) == (pid, None, True, True)
    # Started straight from this (Python) process, the way an older EmbeddedBroker did it,
    # without the starter's pid in its environment: still owned.
    own_port = find_free_port()
    url = f"tcp://127.0.0.1:{own_port}"
    env = {k: v for k, v in os.environ.items() if k != broker_mod.PARENT_ENV}
    proc = subprocess.Popen(
        [
            *(tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url),
            *("--cluster-id", "cosmic-horizons-dev", "--storage-engine", "memory://tansu/"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        _wait_until(lambda: tansu_on_port(own_port), "the unmarked broker runs", 15)
        (own,) = tansu_on_port(own_port)
        assert (own.pid, own.ppid, own.started_by) == (proc.pid, os.getpid(), None)
        assert own.embedded and not own.orphaned
    finally:
        proc.kill()
        proc.wait(10)


# -- item: every run of the in-memory broker is archived apart by default -------------------


def _produce(bootstrap: str, topic: str, n: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(n):
        producer.produce(topic, encode_packet(make_packet(i)), key=f"k{i}".encode())
    assert producer.flush(30) == 0


def _archive(
    bootstrap: str, topic: str, cwd: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cosmic_horizons",
            "archive",
            "run",
            "-b",
            bootstrap,
            "-t",
            topic,
            "--stop-at-end",
            "--workers",
            "0",
            "--session-timeout",
            "6s",
            *extra,
        ],
        capture_output=True,
        text=True,
        env=_env(HORIZONS_DATA_DIR=str(cwd / "data"), PYTHONPATH=str(ROOT)),
        cwd=cwd,
        timeout=120,
        check=False,
    )


def _topic_ids(folder: Path) -> set[str]:
    ids = set()
    for file in folder.rglob("*.parquet"):
        meta = pq.ParquetFile(file).metadata.metadata or {}
        ids.add(meta[TOPIC_ID_KEY.encode()].decode())
    return ids


def _two_runs(tmp_path: Path, *extra: str) -> list[subprocess.CompletedProcess[str]]:
    port = find_free_port()
    topic = "element.raw_data"
    results = []
    for n in (30, 20):
        with EmbeddedBroker(port) as broker:
            create_topic(broker.bootstrap, topic)
            _produce(broker.bootstrap, topic, n)
            results.append(_archive(broker.bootstrap, topic, tmp_path, *extra))
    return results


def test_default_archive_keeps_each_embedded_broker_run_apart(tmp_path: Path) -> None:
    first, second = _two_runs(tmp_path)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    runs = sorted((tmp_path / "data" / "archive" / "embedded").iterdir())
    assert len(runs) == 2, runs
    assert all(r.name.startswith("cosmic-horizons-dev-") for r in runs)
    for run, result in zip(runs, (first, second), strict=True):
        assert f"in {run.as_uri()}" in result.stderr
    rows = [
        sum(pq.ParquetFile(f).metadata.num_rows for f in run.rglob("*.parquet")) for run in runs
    ]
    assert sorted(rows) == [20, 30]
    ids = [_topic_ids(run) for run in runs]
    assert all(len(i) == 1 for i in ids) and ids[0] != ids[1]
    assert not (tmp_path / "data" / "archive" / "element.raw_data").exists()


def test_explicit_storage_still_refuses_another_incarnation(tmp_path: Path) -> None:
    storage = (tmp_path / "explicit").as_uri()
    first, second = _two_runs(tmp_path, "--storage", storage)
    assert first.returncode == 0, first.stderr
    assert second.returncode != 0, second.stderr
    assert "another incarnation of the topic" in second.stderr
    assert not (tmp_path / "data" / "archive" / "embedded").exists()
