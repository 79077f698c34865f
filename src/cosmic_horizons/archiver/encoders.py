"""Turning closed ranges into Parquet bytes, in this process or in worker processes.

Decoding, checking and encoding a range costs more CPU than reading it from Kafka, and it
holds Python's GIL. :class:`RangeEncoder` with ``workers >= 1`` runs that work in separate
processes while the consumer keeps reading; results come back in the order the ranges
were handed in, so files are stored and offsets committed in offset order as before.

A worker reads its jobs from a pipe whose only writer is the archiver: when the archiver
dies (even by SIGKILL), the worker sees the pipe close and exits, so no orphans remain.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import pickle
import signal
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import shared_memory
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa

from .._units import format_bytes
from ..errors import ArchiveError, ConfigError, PacketError
from .decode import PackedValues, binary_column, decode_range
from .layout import encode_parquet

__all__ = [
    "MAX_WORKERS",
    "EncodedRange",
    "RangeEncoder",
    "default_workers",
    "encode_range",
    "shm_free_bytes",
    "usable_cpus",
]

log = logging.getLogger(__name__)

#: Workers run at this lower priority than the archiver (the pipeline's head).
_WORKER_NICENESS: Final = 5
_DEFAULT_MAX_WORKERS: Final = 2
#: Where Python's shared memory lives on Linux, and room always left free there.
_SHM_DIR: Final = Path("/dev/shm")
_SHM_MARGIN: Final = 8 << 20
#: More workers than this never helps: the consumer thread is the limit by then.
MAX_WORKERS: Final = 8
_STOP: Final = b""


@dataclass(frozen=True, slots=True)
class EncodedRange:
    """A range as a Parquet file, and the records that are not packets."""

    data: bytes
    rows: int
    errors: list[tuple[int, PacketError]]
    """``(index into the range, error)`` of each record that failed, in offset order."""


def encode_range(
    topic: str,
    partition: int,
    offsets: Sequence[int],
    timestamps_ms: Sequence[int],
    keys: Sequence[bytes | None] | pa.Array,
    values: Sequence[bytes | None],
    *,
    topic_id: str | None = None,
) -> EncodedRange:
    """Decode and check a range's records and encode the packets among them as Parquet
    (``topic_id``, the topic's Kafka id, goes into the file's metadata)."""
    table, errors = decode_range(topic, partition, offsets, timestamps_ms, keys, values)
    return EncodedRange(encode_parquet(table, topic_id=topic_id), table.num_rows, errors)


def usable_cpus(cgroup_cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may use: its CPU affinity, capped by a cgroup (container) CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    try:
        quota, period = cgroup_cpu_max.read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return n


def default_workers(cpus: int | None = None) -> int:
    """Worker processes by default: one per usable CPU beyond the consumer's, at most 2.

    The consumer thread tops out at roughly what two workers encode, so more only cost
    memory (each worker holds pyarrow); ``--workers`` can still ask for up to 8. On a single
    CPU there is nothing to gain and ranges are encoded in-process (0).
    """
    n = usable_cpus() if cpus is None else cpus
    return max(0, min(_DEFAULT_MAX_WORKERS, n - 1))


_Job = tuple[str, int, list[int], list[int], list[bytes | None], list[bytes | None], str | None]


def _sizes(items: list[bytes | None]) -> np.ndarray:
    """Byte lengths, -1 for None."""
    try:
        return np.fromiter(map(len, items), np.int64, len(items))  # type: ignore[arg-type]
    except TypeError:  # a missing key or value
        return np.fromiter((-1 if b is None else len(b) for b in items), np.int64, len(items))


def _binary_array(sizes: np.ndarray, blob: bytes) -> pa.Array:
    """An Arrow binary column over ``blob`` cut into ``sizes`` (-1: null), without copies."""
    offsets = np.zeros(len(sizes) + 1, np.int32)
    np.cumsum(np.maximum(sizes, 0), out=offsets[1:])
    return binary_column(sizes >= 0, pa.py_buffer(offsets), blob)


def _buffer(block: shared_memory.SharedMemory) -> memoryview:
    buf = block.buf
    if buf is None:
        raise ArchiveError(f"shared memory block {block.name} is closed")
    return buf


def _join(items: list[bytes | None]) -> bytes:
    try:
        return b"".join(items)  # type: ignore[arg-type]
    except TypeError:  # a missing key or value
        return b"".join(b for b in items if b)


def shm_free_bytes(folder: Path = _SHM_DIR) -> int | None:
    """Free bytes where shared memory lives (``/dev/shm``); None when unknown."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


class _Blocks:
    """Shared-memory blocks that are reused: a fresh block costs a page fault per 4 KiB.

    Shared memory is a RAM filesystem that containers keep small (64 MiB by default in
    Docker and Kubernetes), and touching a page past its end kills the process (SIGBUS).
    So a block is only created when the filesystem has room for it; otherwise :meth:`get`
    answers None and the range is encoded in the archiver's own process.
    """

    def __init__(self, free_bytes: Callable[[], int | None] = shm_free_bytes) -> None:
        self._free: list[shared_memory.SharedMemory] = []
        self._all: list[shared_memory.SharedMemory] = []
        self._free_bytes = free_bytes

    def get(self, size: int) -> shared_memory.SharedMemory | None:
        for i, block in enumerate(self._free):
            if block.size >= size:
                return self._free.pop(i)
        want = max(size + size // 4, 1 << 20)
        room = self._free_bytes()
        if room is not None and room < want + _SHM_MARGIN:
            for block in self._free:  # too small for this range: give their room back
                self._all.remove(block)
                self._drop(block)
            self._free.clear()
            room = self._free_bytes()
            if room is not None and room < want + _SHM_MARGIN:
                return None
        block = shared_memory.SharedMemory(create=True, size=want)
        self._all.append(block)
        return block

    @staticmethod
    def _drop(block: shared_memory.SharedMemory) -> None:
        block.close()
        with contextlib.suppress(FileNotFoundError):
            block.unlink()

    def put(self, block: shared_memory.SharedMemory) -> None:
        self._free.append(block)

    def close(self) -> None:
        for block in self._all:
            self._drop(block)
        self._all.clear()
        self._free.clear()


class _NoRoom(Exception):
    """No shared memory for a range: encode it in-process."""


class _Shipment:
    """A range's records in one shared-memory block, for a worker to read without copies.

    Layout: offsets, timestamps, key sizes, value sizes (int64 each), then all keys, then all
    values. Only a small header (the block's name and sizes) goes through the pipe.
    """

    def __init__(self, job: _Job, blocks: _Blocks) -> None:
        topic, partition, offsets, timestamps, keys, values, topic_id = job
        n = len(offsets)
        ksizes, vsizes = _sizes(keys), _sizes(values)
        kblob, vblob = _join(keys), _join(values)
        size = 32 * n + len(kblob) + len(vblob)
        block = blocks.get(size)
        if block is None:
            raise _NoRoom(size)
        self.block = block
        buf = _buffer(self.block)
        table = np.ndarray((4, n), np.int64, buffer=buf)
        table[0] = offsets
        table[1] = timestamps
        table[2] = ksizes
        table[3] = vsizes
        del table
        pos = 32 * n
        buf[pos : pos + len(kblob)] = kblob
        pos += len(kblob)
        buf[pos : pos + len(vblob)] = vblob
        del buf
        self.header = pickle.dumps(
            (self.block.name, topic, partition, n, len(kblob), len(vblob), topic_id),
            protocol=pickle.HIGHEST_PROTOCOL,
        )


#: A worker keeps this many blocks mapped (the archiver reuses a few per worker).
_MAPPED: Final = 8


def _encode_shipment(header: bytes, mapped: dict[str, shared_memory.SharedMemory]) -> EncodedRange:
    """In a worker: encode the range in the shared-memory block a header names."""
    name, topic, partition, n, klen, vlen, topic_id = pickle.loads(header)
    block = mapped.pop(name, None) or shared_memory.SharedMemory(name=name)
    mapped[name] = block  # most recently used last
    while len(mapped) > _MAPPED:
        with contextlib.suppress(BufferError):
            mapped.pop(next(iter(mapped))).close()
    buf = _buffer(block)
    table = np.ndarray((4, n), np.int64, buffer=buf)
    offsets, timestamps = table[0].tolist(), table[1].tolist()
    ksizes, vsizes = table[2].copy(), table[3].copy()
    del table
    pos = 32 * n
    keys = _binary_array(ksizes, bytes(buf[pos : pos + klen]))
    blob = buf[pos + klen : pos + klen + vlen]
    del buf
    try:
        values = PackedValues(blob, vsizes)
        result = encode_range(
            topic, partition, offsets, timestamps, keys, values, topic_id=topic_id
        )
        del values
        return result
    finally:
        blob.release()


def _made_up_range(
    rows: int,
) -> tuple[list[int], list[int], list[bytes | None], list[bytes | None]]:
    """Offsets, timestamps, keys and values of ``rows`` plausible packets (for warming up)."""
    offsets = list(range(rows))
    keys: list[bytes | None] = [b"element-%d" % (i % 263) for i in offsets]
    values: list[bytes | None] = [
        b'{"sourceId":"element-%d","targetId":"site-0","routeType":"node_to_hub",'
        b'"elementId":"element-%d","siteId":"site-0","timestamp":"2026-11-27T00:00:00.000Z",'
        b'"metrics":{"vibration":0.5,"powerUsage":1500.0,"noiseFloor":-98.5,"rfiLevel":-107.0},'
        b'"data_chunk":"%s"}' % (i % 263, i % 263, b"QUJD" * 22)
        for i in offsets
    ]
    return offsets, offsets, keys, values


def _serve(jobs: Connection, results: Connection) -> None:
    """A worker process: encode ranges until the archiver closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the archiver's to handle
    # The consumer thread feeds every worker: when CPUs are short it should not wait on them.
    with contextlib.suppress(OSError, AttributeError):
        os.nice(_WORKER_NICENESS)
    mapped: dict[str, shared_memory.SharedMemory] = {}
    while True:
        try:
            header = jobs.recv_bytes()
        except (EOFError, OSError):
            return
        if header == _STOP:
            return
        try:
            out: tuple[bool, Any] = (True, _to_wire(_encode_shipment(header, mapped)))
        except Exception as exc:  # reported to the archiver, which raises it
            out = (False, f"{type(exc).__name__}: {exc}")
        try:
            results.send_bytes(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, OSError):
            return


def _to_wire(r: EncodedRange) -> tuple[bytes, int, list[tuple[int, str, str]]]:
    return r.data, r.rows, [(i, e.field, e.reason) for i, e in r.errors]


def _from_wire(w: tuple[bytes, int, list[tuple[int, str, str]]]) -> EncodedRange:
    data, rows, errors = w
    return EncodedRange(data, rows, [(i, PacketError(f, reason)) for i, f, reason in errors])


class _Worker:
    """One worker process and its two pipes."""

    def __init__(self, ctx: Any, index: int) -> None:
        job_r, self.jobs = ctx.Pipe(duplex=False)
        self.results, res_w = ctx.Pipe(duplex=False)
        self.process = ctx.Process(
            target=_serve,
            args=(job_r, res_w),
            name=f"horizons-archiver-encoder-{index}",
            daemon=True,
        )
        self.process.start()
        job_r.close()
        res_w.close()
        self.blocks = _Blocks()

    def close(self, timeout: float) -> None:
        with contextlib.suppress(OSError):
            self.jobs.send_bytes(_STOP)
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)
        self.jobs.close()
        self.results.close()
        self.blocks.close()


class RangeEncoder:
    """Encodes ranges in order: inline (``workers=0``) or in ``workers`` processes."""

    def __init__(self, workers: int = 0) -> None:
        if not 0 <= workers <= MAX_WORKERS:
            raise ConfigError(f"encoder workers must be between 0 and {MAX_WORKERS}, got {workers}")
        self.workers = workers
        self._pool: list[_Worker] = []
        self._next = 0
        #: Each range handed in: its result (encoded in-process), or the worker encoding it
        #: and the shared-memory block it reads.
        self._pending: deque[EncodedRange | tuple[_Worker, shared_memory.SharedMemory]] = deque()
        self._warned_room = False

    def __enter__(self) -> RangeEncoder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, warm_rows: int = 0) -> None:
        """Start the worker processes (they import pyarrow once, before the first range).

        With ``warm_rows``, two made-up ranges of that many packets go through each worker
        before this returns: the shared-memory blocks are then in place and their pages,
        like the workers' memory, touched once, which would otherwise slow the first real
        ranges two- to threefold.
        """
        if self.workers and not self._pool:
            ctx = multiprocessing.get_context("spawn")  # never fork a process with Kafka threads
            self._pool = [_Worker(ctx, i) for i in range(self.workers)]
            if warm_rows > 0:
                made_up = _made_up_range(warm_rows)
                for _ in range(2 * self.workers):
                    self.submit("warm-up", 0, *made_up)
                while self._pending:
                    self.take()

    def __len__(self) -> int:
        """Ranges handed in whose result has not been taken yet."""
        return len(self._pending)

    def submit(
        self,
        topic: str,
        partition: int,
        offsets: list[int],
        timestamps_ms: list[int],
        keys: list[bytes | None],
        values: list[bytes | None],
        *,
        topic_id: str | None = None,
    ) -> None:
        """Hand in a range; its result comes out of :meth:`take` after all earlier ones."""
        if self._pool:
            worker = self._pool[self._next]
            job: _Job = (topic, partition, offsets, timestamps_ms, keys, values, topic_id)
            try:
                shipment = _Shipment(job, worker.blocks)
            except _NoRoom as exc:
                self._warn_no_room(exc.args[0])
            else:
                self._next = (self._next + 1) % len(self._pool)
                try:
                    worker.jobs.send_bytes(shipment.header)
                except OSError as exc:
                    worker.blocks.put(shipment.block)
                    raise ArchiveError(
                        f"archive encoder process {worker.process.name} is gone "
                        f"(exit code {worker.process.exitcode})"
                    ) from exc
                self._pending.append((worker, shipment.block))
                return
        self._pending.append(
            encode_range(topic, partition, offsets, timestamps_ms, keys, values, topic_id=topic_id)
        )

    def _warn_no_room(self, size: int) -> None:
        if not self._warned_room:
            self._warned_room = True
            log.warning(
                "shared memory (%s) has too little room for a %s range: encoding such "
                "ranges in the archiver process, more slowly (give the container a larger "
                "/dev/shm, see deploy/)",
                _SHM_DIR,
                format_bytes(size),
            )

    def ready(self) -> bool:
        """Is the oldest range's result there (so :meth:`take` would not wait)?"""
        if not self._pending:
            return False
        head = self._pending[0]
        return isinstance(head, EncodedRange) or head[0].results.poll()

    def take(self) -> EncodedRange:
        """The oldest range's result, waiting for it if need be."""
        head = self._pending.popleft()
        if isinstance(head, EncodedRange):
            return head
        worker, block = head
        try:
            ok, body = pickle.loads(worker.results.recv_bytes())
        except (EOFError, OSError) as exc:
            code = worker.process.exitcode
            raise ArchiveError(
                f"archive encoder process {worker.process.name} died (exit code {code}); "
                "nothing of its ranges was stored or committed"
            ) from exc
        worker.blocks.put(block)
        if not ok:
            raise ArchiveError(f"encoding an archive file failed in {worker.process.name}: {body}")
        return _from_wire(body)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the workers; results not taken are dropped (their ranges stay uncommitted)."""
        pool, self._pool = self._pool, []
        for w in pool:
            w.close(timeout)
        self._pending.clear()
