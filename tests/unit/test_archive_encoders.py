"""The encoder worker pool: worker processes give the same files as encoding in-process."""

from __future__ import annotations

import base64
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from cosmic_horizons.archiver.records import RecordRange
from cosmic_horizons.archiver.workers import (
    MAX_WORKERS,
    EncoderPool,
    default_workers,
    shm_free_bytes,
    usable_cpus,
)
from cosmic_horizons.errors import ArchiveError, ConfigError
from cosmic_horizons.packet import encode_packet
from tests.helpers import make_packet

ROOT = Path(__file__).resolve().parents[2]


def a_range(n: int, first: int = 0, partition: int = 0) -> RecordRange:
    offsets = list(range(first, first + n))
    stamps = [1_795_780_800_000 + i for i in offsets]
    keys: list[bytes | None] = [f"k{i}".encode() if i % 7 else None for i in offsets]
    values: list[bytes | None] = [
        encode_packet(make_packet(i, chunk=base64.b64encode(bytes([i % 256]) * (i % 5)).decode()))
        for i in offsets
    ]
    values[3] = b"{not json"  # a dead letter
    values[5] = None  # a tombstone
    values[8] = b""  # an empty record
    return RecordRange("t", partition, offsets, stamps, keys, values)


def test_workers_return_the_same_files_and_errors_in_order() -> None:
    ranges = [a_range(300, first=i * 300, partition=2) for i in range(5)]
    with EncoderPool(0) as inline:
        for r in ranges:
            inline.submit(r)
        want = [inline.take() for _ in ranges]
    with EncoderPool(2) as pool:
        for r in ranges:
            pool.submit(r)
        assert len(pool) == 5
        got = [pool.take() for _ in ranges]
        assert len(pool) == 0
    for w, g in zip(want, got, strict=True):
        assert g.data == w.data  # byte for byte
        assert g.rows == w.rows == 297
        assert [(i, str(e)) for i, e in g.errors] == [(i, str(e)) for i, e in w.errors]
        assert [i for i, _ in g.errors] == [3, 5, 8]


def test_an_empty_range_and_a_range_without_keys() -> None:
    records = a_range(20)
    with EncoderPool(1) as pool:
        pool.submit(RecordRange("t", 0, [], [], [], []))
        pool.submit(replace(records, keys=[None] * 20))
        empty, nokeys = pool.take(), pool.take()
    assert (empty.rows, empty.errors) == (0, [])
    assert nokeys.rows == 17


def test_ready_says_when_take_would_not_wait() -> None:
    with EncoderPool(1) as pool:
        assert not pool.ready()
        pool.submit(a_range(50))
        deadline = time.monotonic() + 60
        while not pool.ready():
            assert time.monotonic() < deadline, "the worker never answered"
            time.sleep(0.01)
        assert pool.take().rows == 47


def test_worker_count_is_checked() -> None:
    with pytest.raises(ConfigError, match="between 0 and"):
        EncoderPool(MAX_WORKERS + 1)
    with pytest.raises(ConfigError):
        EncoderPool(-1)
    assert default_workers(1) == 0
    assert default_workers(2) == 1
    assert default_workers(64) == 2  # the consumer thread is the limit beyond that


def test_usable_cpus_follow_a_container_cpu_quota(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("150000 100000\n")  # 1.5 CPUs
    assert usable_cpus(cpu_max) == min(2, len(os.sched_getaffinity(0)))
    cpu_max.write_text("50000 100000\n")
    assert usable_cpus(cpu_max) == 1
    cpu_max.write_text("max 100000\n")
    assert usable_cpus(cpu_max) == len(os.sched_getaffinity(0))
    assert usable_cpus(tmp_path / "missing") == len(os.sched_getaffinity(0))


def test_a_dead_worker_is_an_archive_error() -> None:
    pool = EncoderPool(1)
    pool.start()
    try:
        pool._pool[0].process.kill()
        pool._pool[0].process.join(10)
        with pytest.raises(ArchiveError, match=r"encoder process .* (died|is gone)"):
            pool.submit(a_range(10))
            pool.take()
    finally:
        pool.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its new parent) counts as gone
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc and /dev/shm")
def test_workers_and_shared_memory_go_when_the_archiver_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os, signal, sys
        from cosmic_horizons.archiver.workers import EncoderPool
        from tests.unit.test_archive_encoders import a_range

        if __name__ == "__main__":
            pool = EncoderPool(2)
            pool.start()
            for _ in range(3):
                pool.submit(a_range(200))
            pool.take()
            names = [b.name for w in pool._pool for b in w.blocks._all]
            print(" ".join(str(w.process.pid) for w in pool._pool), flush=True)
            print(" ".join(names), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    path = tmp_path / "killed.py"
    path.write_text(script)
    proc = subprocess.run(
        [sys.executable, str(path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pids_line, names_line = proc.stdout.splitlines()[:2]
    pids = [int(p) for p in pids_line.split()]
    names = names_line.split()
    assert len(pids) == 2 and names
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in pids) or any(Path("/dev/shm", n).exists() for n in names):
        assert time.monotonic() < deadline, "encoder processes or shared memory outlived it"
        time.sleep(0.1)


def test_without_room_in_shared_memory_ranges_are_encoded_in_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ranges = [a_range(100, first=i * 100) for i in range(3)]
    with EncoderPool(0) as inline:
        for r in ranges:
            inline.submit(r)
        want = [inline.take() for _ in ranges]
    with EncoderPool(1) as pool, caplog.at_level(logging.WARNING):
        blocks = pool._pool[0].blocks
        blocks._free_bytes = lambda: 4 << 20
        for r in ranges:
            pool.submit(r)
        got = [pool.take() for _ in ranges]
        assert not blocks._all
    assert [g.data for g in got] == [w.data for w in want]
    assert [[(i, str(e)) for i, e in g.errors] for g in got] == [
        [(i, str(e)) for i, e in w.errors] for w in want
    ]
    warnings = [r for r in caplog.records if "too little room" in r.getMessage()]
    assert len(warnings) == 1  # said once, not per range
    assert "/dev/shm" in warnings[0].getMessage()


def test_shared_memory_room_is_read_from_the_filesystem(tmp_path: Path) -> None:
    free = shm_free_bytes(tmp_path)
    assert free is not None and free > 0
    assert shm_free_bytes(tmp_path / "missing") is None
