"""The spool on its own: order, acknowledgement, recovery, damage, the size bound."""

from __future__ import annotations

import logging
import struct
import threading
import time
from pathlib import Path

import pytest

from cosmic_horizons.errors import ConfigError, StorageError
from cosmic_horizons.spool import Spool, SpoolSettings
from cosmic_horizons.spool.acks import AckedRanges
from cosmic_horizons.spool.records import encode_batch, encode_record
from cosmic_horizons.spool.store import CURSOR_EVERY

MiB = 1024 * 1024


def recs(start: int, n: int, size: int = 100) -> list[tuple[bytes, bytes, int, None]]:
    return [
        (f"e{i % 7}".encode(), f"{i:08d}".encode() * (size // 8), 1_700_000_000_000 + i, None)
        for i in range(start, start + n)
    ]


def read_all(spool: Spool, seq: int = 0) -> list[int]:
    reader = spool.reader()
    reader.seek(seq)
    out = []
    while batch := reader.read(500):
        out.extend(r[0] for r in batch if not spool.is_done(r[0]))
    return out


def test_append_read_ack_in_order_across_segments(tmp_path: Path) -> None:
    s = SpoolSettings(path=tmp_path, max_bytes=2 * MiB, segment_bytes=64 * 1024)
    with Spool(s) as spool:
        first, n = spool.append(recs(0, 3000))
        assert (first, n) == (0, 3000)
        assert len(list(tmp_path.glob("*.seg"))) > 3
        reader = spool.reader()
        reader.seek(0)
        got = []
        while batch := reader.read(700):
            got.extend(batch)
        assert [r[0] for r in got] == list(range(3000))
        assert got[5][2] == b"e5" and got[5][3].startswith(b"00000005")
        for seq in reversed(range(1500)):  # out of order: the cursor waits for the prefix
            spool.ack(seq)
        assert spool.acked_seq == 1500 and spool.records == 1500
        assert read_all(spool) == list(range(1500, 3000))
        segs_before = len(list(tmp_path.glob("*.seg")))
        for seq in range(1500, 3000):
            spool.ack(seq)
        assert spool.records == 0
        assert len(list(tmp_path.glob("*.seg"))) < segs_before


def test_reopen_resumes_after_the_acked_prefix(tmp_path: Path) -> None:
    s = SpoolSettings(path=tmp_path, segment_bytes=64 * 1024)
    with Spool(s) as spool:
        spool.append(recs(0, 1000))
        for seq in range(400):
            spool.ack(seq)
        spool.ack(600)  # acked above the prefix: not remembered across a restart
    with Spool(s) as spool:
        assert (spool.acked_seq, spool.next_seq) == (400, 1000)
        assert read_all(spool) == list(range(400, 1000))
        assert spool.append(recs(1000, 1)) == (1000, 1)


def test_one_process_per_spool(tmp_path: Path) -> None:
    with Spool(SpoolSettings(path=tmp_path)), pytest.raises(StorageError, match="in use"):
        Spool(SpoolSettings(path=tmp_path))


def test_torn_final_record_is_cut_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = SpoolSettings(path=tmp_path)
    with Spool(s) as spool:
        spool.append(recs(0, 10))
    [seg] = tmp_path.glob("*.seg")
    size = seg.stat().st_size
    with open(seg, "r+b") as f:
        f.truncate(size - 7)  # a crash inside the last write
    with caplog.at_level(logging.WARNING), Spool(s) as spool:
        assert "torn final record" in caplog.text
        assert spool.next_seq == 9 and spool.corrupt == 1
        assert read_all(spool) == list(range(9))
        spool.append(recs(9, 1))
        assert read_all(spool) == list(range(10))


def test_damaged_middle_record_is_skipped_neighbours_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = SpoolSettings(path=tmp_path, segment_bytes=4096)
    with Spool(s) as spool:
        spool.append(recs(0, 200))
    segs = sorted(tmp_path.glob("*.seg"))
    record_len = len(encode_record(0, 0, b"e0", b"x" * 96))
    data = bytearray(segs[0].read_bytes())
    data[3 * record_len + 30] ^= 0xFF  # flip a byte inside record 3's body
    segs[0].write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING), Spool(s) as spool:
        got = read_all(spool)
        assert 3 not in got and got == [i for i in range(200) if i != 3]
        assert spool.corrupt == 1
        assert "damaged record" in caplog.text and segs[0].name in caplog.text


def test_full_spool_blocks_until_acks_make_room(tmp_path: Path) -> None:
    with Spool(SpoolSettings(path=tmp_path, max_bytes=MiB, segment_bytes=128 * 1024)) as spool:
        stop = threading.Event()
        per = len(encode_record(0, 0, b"e0", b"x" * 96))
        fits = MiB // per
        done: list[tuple[int, int]] = []
        t = threading.Thread(target=lambda: done.append(spool.append(recs(0, fits + 500), stop)))
        t.start()
        time.sleep(0.3)
        assert not done and spool.next_seq <= fits  # blocked, nothing beyond the bound
        for seq in range(3000):
            spool.ack(seq)
        t.join(5)
        assert done == [(0, fits + 500)]
        assert spool.dropped == 0


def test_full_spool_interrupted_returns_what_fitted(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    with Spool(SpoolSettings(path=tmp_path, max_bytes=MiB, segment_bytes=128 * 1024)) as spool:
        first, n = spool.append(recs(0, 20_000), stop)
        assert first == 0 and 0 < n < 20_000 and spool.next_seq == n
        assert spool.total_bytes <= MiB


def test_drop_oldest_counts_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = SpoolSettings(path=tmp_path, max_bytes=MiB, policy="drop-oldest", segment_bytes=128 * 1024)
    with caplog.at_level(logging.WARNING), Spool(s) as spool:
        _, n = spool.append(recs(0, 20_000))
        assert n == 20_000 and spool.total_bytes <= MiB
        assert spool.dropped > 0 and spool.records == 20_000 - spool.dropped
        assert "SPOOL FULL" in caplog.text
        kept = read_all(spool)
        assert kept == list(range(spool.dropped, 20_000))  # the oldest went, in whole segments
        assert spool.status().dropped == spool.dropped


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="spool-max"):
        SpoolSettings(path=Path("x"), max_bytes=10)
    with pytest.raises(ConfigError, match="spool-policy"):
        SpoolSettings(path=Path("x"), policy="maybe")  # type: ignore[arg-type]


def test_acked_ranges_merge_out_of_order_into_the_prefix() -> None:
    acks = AckedRanges(100)
    assert not acks.add(300, 400) and not acks.add(200, 250) and not acks.add(240, 300)
    assert acks.low == 100 and acks.above == 200 and 260 in acks and 150 not in acks
    assert acks.count_in(150, 350) == 150
    assert acks.add(100, 200)  # the gap closes: everything up to 400 is the prefix
    assert (acks.low, acks.above) == (400, 0)
    assert not acks.add(50, 400)  # below the prefix: nothing changes
    acks.add(500, 600)
    acks.move_low(550)  # dropped up to 550: the range above is cut, then merged
    assert (acks.low, acks.above) == (600, 0)


def test_batch_encoding_is_the_record_format(tmp_path: Path) -> None:
    records = [(b"e1", b"v" * 50, 123, None), (b"e2", b"w", 5, [("h", b"x")])]
    assert encode_batch(7, records) == [
        encode_record(7 + i, ts, k, v, h) for i, (k, v, ts, h) in enumerate(records)
    ]


def test_cursor_is_written_in_batches_and_current_after_a_tick(tmp_path: Path) -> None:
    with Spool(SpoolSettings(path=tmp_path)) as spool:
        spool.append(recs(0, 5000))
        cursor = tmp_path / "cursor"
        for start in range(0, 5000, 263):  # one range per publish call, as the publisher does
            spool.ack_range(start, min(5000, start + 263))
            raw = cursor.read_bytes()  # empty until first written: seq 0, as opening reads it
            written = struct.unpack("<Q", raw)[0] if raw else 0
            assert spool.acked_seq - written < CURSOR_EVERY  # what a crash would re-send
        spool.tick()
        assert struct.unpack("<Q", cursor.read_bytes())[0] == 5000 == spool.acked_seq
        assert spool.records == 0 and spool.acked_total == 5000
