"""A range of one partition's records, as one value, and its shared-memory form.

A :class:`RecordRange` is what travels from the consumer to the file: topic, partition,
offsets, Kafka timestamps, keys, values and the topic's Kafka id. For the encoder worker
processes it is written into one shared-memory block (:meth:`RecordRange.to_shared`) and
read back there without copies (:meth:`RecordRange.from_shared`); only this module knows
that block's layout.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ..errors import ArchiveError
from .decode import PackedValues, binary_column

try:  # the range packed into its block in one pass, where the C extension is built
    from . import _columns
except ImportError:  # pragma: no cover - a build without a C compiler
    _columns = None  # type: ignore[assignment]

__all__ = ["Int64s", "RecordRange", "SharedRange", "total_size"]

#: Offsets or timestamps as one int64 array (what shared memory holds).
Int64s = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class RecordRange:
    """Records of one partition in offset order (keys and values may be missing)."""

    topic: str
    partition: int
    offsets: Sequence[int] | Int64s
    """Lists in the archiver; int64 arrays where read back from shared memory."""
    timestamps: Sequence[int] | Int64s
    """Kafka timestamps (ms since the epoch)."""
    keys: Sequence[bytes | None] | pa.Array
    values: Sequence[bytes | None]
    topic_id: str | None = None
    """The topic's Kafka id (None: the broker has none)."""

    def __len__(self) -> int:
        return len(self.offsets)

    # -- shared memory -----------------------------------------------------------------
    #
    # Layout of a block: offsets, timestamps, key sizes, value sizes (int64 each, -1 for a
    # missing key or value), then all keys, then all values. Only a small header (the
    # block's name, the range's topic and partition, and the sizes) goes through a pipe.

    def shared_size(self) -> int:
        """Bytes the range needs in a block."""
        return 32 * len(self) + total_size(self.keys, self.values)

    def to_shared(self, block: shared_memory.SharedMemory) -> bytes:
        """Write the range into ``block`` (sized by :meth:`shared_size`); the header to send."""
        n = len(self)
        buf = _buffer(block)
        columns = (self.offsets, self.timestamps, self.keys, self.values)
        if _columns is not None and all(type(c) is list for c in columns):
            klen, vlen = _columns.pack_range(*columns, buf)  # type: ignore[arg-type]
        else:
            kblob, vblob = _join(self.keys), _join(self.values)
            table = np.ndarray((4, n), np.int64, buffer=buf)
            table[0] = self.offsets
            table[1] = self.timestamps
            table[2] = _sizes(self.keys)
            table[3] = _sizes(self.values)
            del table
            pos = 32 * n
            buf[pos : pos + len(kblob)] = kblob
            pos += len(kblob)
            buf[pos : pos + len(vblob)] = vblob
            klen, vlen = len(kblob), len(vblob)
        del buf
        return pickle.dumps(
            (block.name, self.topic, self.partition, n, klen, vlen, self.topic_id),
            protocol=pickle.HIGHEST_PROTOCOL,
        )

    @staticmethod
    def block_name(header: bytes) -> str:
        """The shared-memory block a header names."""
        name: str = pickle.loads(header)[0]
        return name

    @staticmethod
    def from_shared(header: bytes, block: shared_memory.SharedMemory) -> SharedRange:
        """The range a header describes, over ``block`` (release it when done)."""
        _name, topic, partition, n, klen, vlen, topic_id = pickle.loads(header)
        buf = _buffer(block)
        table = np.ndarray((4, n), np.int64, buffer=buf)
        offsets, timestamps = table[0].copy(), table[1].copy()  # for Arrow without copies
        ksizes, vsizes = table[2].copy(), table[3].copy()
        del table
        pos = 32 * n
        keys = _binary_array(ksizes, bytes(buf[pos : pos + klen]))
        blob = buf[pos + klen : pos + klen + vlen]
        del buf
        values = PackedValues(blob, vsizes)
        return SharedRange(
            RecordRange(topic, partition, offsets, timestamps, keys, values, topic_id), blob
        )


@dataclass(frozen=True, slots=True)
class SharedRange:
    """A range read from shared memory, and the view its values point into."""

    records: RecordRange
    view: memoryview

    def release(self) -> None:
        self.view.release()


def total_size(keys: Sequence[bytes | None], values: Sequence[bytes | None]) -> int:
    """Key and value bytes of records."""
    try:
        return sum(map(len, keys)) + sum(map(len, values))  # type: ignore[arg-type]
    except TypeError:  # a missing key or value
        return sum(len(k) for k in keys if k) + sum(len(v) for v in values if v)


def _sizes(items: Sequence[bytes | None] | Any) -> np.ndarray:
    """Byte lengths, -1 for None."""
    try:
        return np.fromiter(map(len, items), np.int64, len(items))
    except TypeError:  # a missing key or value
        return np.fromiter((-1 if b is None else len(b) for b in items), np.int64, len(items))


def _join(items: Sequence[bytes | None] | Any) -> bytes:
    try:
        return b"".join(items)  # type: ignore[arg-type]
    except TypeError:  # a missing key or value
        return b"".join(b for b in items if b)


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
