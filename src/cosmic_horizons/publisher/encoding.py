"""A publisher's record values: packets in its encoding, the spec's JSON or binary."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from ..errors import PublishError
from ..packet import KafkaPayload, chunk_bytes, encode_lines, encode_packet
from ..packet_binary import encode_binary

__all__ = ["encode_value", "encode_values"]


def encode_value(packet: KafkaPayload, chunk: bytes | None, *, binary: bool) -> bytes:
    """The record value in the publisher's encoding; ``chunk``: raw chunk bytes."""
    if binary:
        return encode_binary(packet, chunk)
    if chunk is not None:
        if packet.data_chunk is not None:
            raise PublishError("a chunk given twice: as data_chunk and as raw bytes")
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
    # One JSON document per line; JSON strings never hold a raw newline.
    blob = encode_lines(packets)
    values = blob.split(b"\n")
    return values, len(blob) - len(values) + 1
