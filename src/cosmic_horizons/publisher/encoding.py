"""A publisher's record values: packets in its encoding, the spec's JSON or binary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import msgspec

from ..errors import PublishError
from ..packet import KafkaPayload, chunk_bytes, encode_each, encode_packet
from ..packet_binary import check_raw_chunk, encode_binary

__all__ = ["SLICE_BYTES", "check_chunks", "encode_value", "encode_values", "slice_size"]

#: publish_many encodes a tick of large chunks this many chunk bytes at a time: the values
#: of a slice are freed before the next is built, so their memory is reused. A whole tick
#: of 512 KiB chunks alive at once (134 MB of fresh pages) cost ~330 us a packet in page
#: faults against ~30 us one slice at a time.
SLICE_BYTES: Final = 512 * 1024


def slice_size(packets: Sequence[KafkaPayload], chunks: Sequence[bytes | None] | None) -> int:
    """How many of ``packets`` to encode at a time (all of them unless their chunks are
    large), judged by the first packet's chunk."""
    if chunks is not None and chunks[0] is not None:
        size = len(chunks[0])
    else:
        size = len(packets[0].data_chunk or "")
    if size * len(packets) <= SLICE_BYTES:
        return len(packets)
    return max(1, SLICE_BYTES // max(size, 1))


def check_chunks(
    packets: Sequence[KafkaPayload], chunks: Sequence[bytes | None], *, binary: bool
) -> None:
    """Raise what :func:`encode_value` would for any of the packets' raw chunks, before a
    sliced tick queues its first slice (a bad chunk refuses the whole tick)."""
    for packet, chunk in zip(packets, chunks, strict=True):
        if chunk is None:
            continue
        if binary:
            check_raw_chunk(packet, chunk)
        else:
            _check_json_chunk(packet)


def _check_json_chunk(packet: KafkaPayload) -> None:
    """Raw chunk bytes for the JSON form: refused when the packet has a ``data_chunk``."""
    if packet.data_chunk is not None:
        raise PublishError("a chunk given twice: as data_chunk and as raw bytes")


def encode_value(packet: KafkaPayload, chunk: bytes | None, *, binary: bool) -> bytes:
    """The record value in the publisher's encoding; ``chunk``: raw chunk bytes."""
    if binary:
        return encode_binary(packet, chunk)
    if chunk is not None:
        _check_json_chunk(packet)
        packet = msgspec.structs.replace(packet, data_chunk=chunk_bytes(chunk))
    return encode_packet(packet)


def encode_values(
    packets: Sequence[KafkaPayload], chunks: Sequence[bytes | None] | None, *, binary: bool
) -> tuple[list[bytes], int]:
    """The values of ``packets`` and their bytes in all."""
    if binary:
        if chunks is None:
            values = list(map(encode_binary, packets))
        else:
            values = list(map(encode_binary, packets, chunks))
        return values, sum(map(len, values))
    if chunks is not None:
        values = [encode_value(p, c, binary=False) for p, c in zip(packets, chunks, strict=True)]
        return values, sum(map(len, values))
    values = encode_each(packets)
    return values, sum(map(len, values))
