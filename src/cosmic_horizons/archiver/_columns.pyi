"""Canonical packets cut into Arrow column buffers (the archiver's fast path, in C)."""

from collections.abc import Sequence
from typing import Any

def split(
    values: Sequence[bytes | memoryview | None], max_chunk_chars: int, max_id_chars: int, /
) -> tuple[
    bytes,
    tuple[tuple[bytes, bytes], ...],
    tuple[bytes, bytes, bytes, bytes],
    tuple[bytes, bytes, bytes],
    int,
]: ...
def split_packed(
    blob: bytes | memoryview, sizes: object, max_chunk_chars: int, max_id_chars: int, /
) -> tuple[
    bytes,
    tuple[tuple[bytes, bytes], ...],
    tuple[bytes, bytes, bytes, bytes],
    tuple[bytes, bytes, bytes],
    int,
]: ...
def gather(
    msgs: list[Any], /
) -> tuple[int, list[int], list[int], list[bytes | None], list[bytes | None]] | None: ...
def pack_range(
    offsets: list[int],
    timestamps: list[int],
    keys: list[bytes | None],
    values: list[bytes | None],
    block: Any,
    /,
) -> tuple[int, int]: ...
