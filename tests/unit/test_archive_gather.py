"""The consumer's C helpers give exactly what the Python path gives: a consumed batch gathered
into a range (``gather``), and a range packed into its shared-memory block (``pack_range``)."""

from __future__ import annotations

from multiprocessing import shared_memory

import pytest
from confluent_kafka import KafkaError, Message

from cosmic_horizons.archiver import consumer, records
from cosmic_horizons.archiver.consumer import batch_records, records_of, split_batch
from cosmic_horizons.archiver.decode import fast_path_built
from cosmic_horizons.archiver.records import RecordRange

pytestmark = pytest.mark.skipif(not fast_path_built(), reason="built without a C compiler")


def msg(
    offset: int,
    *,
    partition: int = 0,
    key: bytes | None = b"element-1-1",
    value: bytes | None = b'{"v":1}',
    ms: int = 1_795_780_800_000,
) -> Message:
    return Message(
        topic="t", partition=partition, offset=offset, key=key, value=value, timestamp=(1, ms)
    )


def python_runs(msgs: list[Message]) -> list[tuple[object, ...]]:
    """What batch_records gives without the C helper."""
    out: list[tuple[object, ...]] = []
    for part, run, err in split_batch(msgs):
        recs = None if err is not None or part is None else records_of("t", part, run, "id")
        out.append((part, run, err, recs))
    return out


def test_the_usual_batch_is_gathered_in_c_as_python_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    msgs = [
        msg(i, key=None if i == 3 else b"k%d" % i, value=None if i == 5 else b"v") for i in range(9)
    ]
    msgs.append(msg(9, ms=-1))  # no timestamp: the epoch, as in records_of
    from cosmic_horizons.archiver import _columns

    got = _columns.gather(msgs)
    assert got is not None
    want = records_of("t", 0, msgs, "id")
    assert got == (0, list(want.offsets), list(want.timestamps), list(want.keys), list(want.values))
    assert got[2][-1] == 0 and got[3][3] is None and got[4][5] is None
    fast = list(batch_records("t", msgs, "id"))
    monkeypatch.setattr(consumer, "_columns", None)
    assert fast == list(batch_records("t", msgs, "id")) == python_runs(msgs)


def test_a_batch_with_an_error_event_or_two_partitions_takes_the_python_path() -> None:
    from cosmic_horizons.archiver import _columns

    eof = Message(topic="t", partition=0, offset=3, error=KafkaError(KafkaError._PARTITION_EOF))
    with_error = [msg(0), msg(1), msg(2), eof, msg(3)]
    two = [msg(0), msg(1), msg(0, partition=1), msg(2)]
    for batch in (with_error, two):
        assert _columns.gather(batch) is None
        runs = list(batch_records("t", batch, "id"))
        assert runs == python_runs(batch)
    assert [(p, e is not None) for p, _run, e, _r in batch_records("t", two, "id")] == [
        (0, False),
        (1, False),
        (0, False),
    ]
    assert _columns.gather([]) is None
    with pytest.raises(TypeError):
        _columns.gather(tuple(two))  # type: ignore[arg-type]


def a_range(n: int) -> RecordRange:
    keys: list[bytes | None] = [None if i % 7 == 0 else b"element-%d" % i for i in range(n)]
    values: list[bytes | None] = [None if i % 11 == 0 else b"x" * (i % 50) for i in range(n)]
    return RecordRange("t", 2, list(range(100, 100 + n)), [i * 3 for i in range(n)], keys, values)


def test_a_range_is_packed_in_c_byte_for_byte_as_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    r = a_range(300)
    size = r.shared_size()
    blocks = [shared_memory.SharedMemory(create=True, size=size) for _ in range(2)]
    try:
        fast_header = r.to_shared(blocks[0])
        monkeypatch.setattr(records, "_columns", None)
        slow_header = r.to_shared(blocks[1])
        assert bytes(blocks[0].buf[:size]) == bytes(blocks[1].buf[:size])
        assert fast_header.replace(blocks[0].name.encode(), b"") == slow_header.replace(
            blocks[1].name.encode(), b""
        )
        shared = RecordRange.from_shared(fast_header, blocks[0])
        try:
            back = shared.records
            assert list(back.offsets) == list(r.offsets)
            assert list(back.timestamps) == list(r.timestamps)
            assert back.keys.to_pylist() == list(r.keys)  # type: ignore[union-attr]
            assert list(back.values) == list(r.values)
        finally:
            shared.release()
            del shared, back
    finally:
        for b in blocks:
            b.close()
            b.unlink()


def test_pack_range_refuses_a_block_too_small_or_columns_that_differ() -> None:
    from cosmic_horizons.archiver import _columns

    r = a_range(20)
    size = r.shared_size()
    cols = (list(r.offsets), list(r.timestamps), list(r.keys), list(r.values))
    with pytest.raises(ValueError, match="too small"):
        _columns.pack_range(*cols, bytearray(size - 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="too small"):
        _columns.pack_range(*cols, bytearray(10))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="different lengths"):
        _columns.pack_range(cols[0][:-1], *cols[1:], bytearray(size))  # type: ignore[arg-type]
    out = bytearray(size)
    assert _columns.pack_range(*cols, out) == (  # type: ignore[arg-type]
        sum(len(k) for k in r.keys if k),
        sum(len(v) for v in r.values if v),
    )


def test_a_range_read_back_from_its_block_decodes_as_the_lists_do() -> None:
    """Offsets and timestamps come back as int64 arrays (no copies into Arrow): the rows and
    the errors are those of the lists, good, bad and missing records mixed."""
    from cosmic_horizons.archiver.decode import decode_range
    from cosmic_horizons.packet import encode_packet
    from tests.helpers import decoded_through_shared_memory, make_packet

    values: list[bytes | None] = [encode_packet(make_packet(i)) for i in range(30)]
    values[4], values[9], values[17] = b"not json", None, b'{"sourceId":"x"}'
    r = RecordRange(
        "t",
        1,
        list(range(500, 530)),
        [1_795_780_800_000 + i for i in range(30)],
        [b"k"] * 30,
        values,
        "id",
    )
    rows, errors = decoded_through_shared_memory(r)
    want, want_errors = decode_range(r)
    assert rows == want.to_pylist()
    assert errors == [(i, str(e)) for i, e in want_errors]
    assert [i for i, _ in errors] == [4, 9, 17]
