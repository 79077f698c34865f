"""Canonical packets cut into Arrow column buffers (the archiver's fast path, in C)."""

from collections.abc import Sequence

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
