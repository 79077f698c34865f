"""The encoder worker pool: closed ranges into Parquet bytes, in this process or in workers.

Decoding, checking and encoding a range costs more CPU than reading it from Kafka, and it
holds Python's GIL. :class:`EncoderPool` with ``workers >= 1`` runs that work in separate
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
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import shared_memory
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

from .._units import format_bytes
from ..errors import ArchiveError, ConfigError, PacketError
from .decode import decode_range
from .fileformat import encode_parquet
from .records import RecordRange

__all__ = [
    "MAX_WORKERS",
    "EncodedRange",
    "EncoderPool",
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


def encode_range(records: RecordRange) -> EncodedRange:
    """Decode and check a range's records and encode the packets among them as Parquet
    (the topic's Kafka id goes into the file's metadata)."""
    table, errors = decode_range(records)
    return EncodedRange(encode_parquet(table, topic_id=records.topic_id), table.num_rows, errors)


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


#: A worker keeps this many blocks mapped (the archiver reuses a few per worker).
_MAPPED: Final = 8


def _encode_shipment(header: bytes, mapped: dict[str, shared_memory.SharedMemory]) -> EncodedRange:
    """In a worker: encode the range in the shared-memory block a header names."""
    name = RecordRange.block_name(header)
    block = mapped.pop(name, None) or shared_memory.SharedMemory(name=name)
    mapped[name] = block  # most recently used last
    while len(mapped) > _MAPPED:
        with contextlib.suppress(BufferError):
            mapped.pop(next(iter(mapped))).close()
    shared = RecordRange.from_shared(header, block)
    try:
        return encode_range(shared.records)
    finally:
        shared.release()


def _made_up_range(rows: int) -> RecordRange:
    """``rows`` plausible packets (for warming up)."""
    offsets = list(range(rows))
    keys: list[bytes | None] = [b"element-%d" % (i % 263) for i in offsets]
    values: list[bytes | None] = [
        b'{"sourceId":"element-%d","targetId":"site-0","routeType":"node_to_hub",'
        b'"elementId":"element-%d","siteId":"site-0","timestamp":"2026-11-27T00:00:00.000Z",'
        b'"metrics":{"vibration":0.5,"powerUsage":1500.0,"noiseFloor":-98.5,"rfiLevel":-107.0},'
        b'"data_chunk":"%s"}' % (i % 263, i % 263, b"QUJD" * 22)
        for i in offsets
    ]
    return RecordRange("warm-up", 0, offsets, offsets, keys, values)


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


class EncoderPool:
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

    def __enter__(self) -> EncoderPool:
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
                    self.submit(made_up)
                while self._pending:
                    self.take()

    def __len__(self) -> int:
        """Ranges handed in whose result has not been taken yet."""
        return len(self._pending)

    def submit(self, records: RecordRange) -> None:
        """Hand in a range; its result comes out of :meth:`take` after all earlier ones."""
        if self._pool:
            worker = self._pool[self._next]
            size = records.shared_size()
            block = worker.blocks.get(size)
            if block is None:
                self._warn_no_room(size)
            else:
                header = records.to_shared(block)
                self._next = (self._next + 1) % len(self._pool)
                try:
                    worker.jobs.send_bytes(header)
                except OSError as exc:
                    worker.blocks.put(block)
                    raise ArchiveError(
                        f"archive encoder process {worker.process.name} is gone "
                        f"(exit code {worker.process.exitcode})"
                    ) from exc
                self._pending.append((worker, block))
                return
        self._pending.append(encode_range(records))

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
