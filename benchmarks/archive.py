"""Archiver throughput against the raw consume rate of the same topic, in one run.

    python -m benchmarks.archive [--packets 200000] [--chunk-bytes 64] [--runs 3]
    python -m benchmarks.archive --packets 2000 --chunk-bytes 65536 --batch 200

Starts the embedded broker, produces N packets (a data_chunk of ``--chunk-bytes`` bytes,
base64 in the JSON) into a fresh topic, then measures, ``--runs`` times each, in turn:
(a) raw: a bare confluent-kafka consumer loop (``consume(num_messages=2000)``, the archiver's
    batch, exactly its consumer settings), reading each record's value; no decoding, no
    commits (2,000 per call beat 10,000 here: 1.0M against 0.75M records/s);
(b) the archiver reading the same topic into Parquet files on file:// (a temporary folder):
    decode and validate every packet, base64-decode and check each chunk, build columns,
    encode Parquet, store atomically, commit.
The clocks run from the first batch received to the last record read (a) or stored (b),
counting the records after that batch, so joining and leaving the consumer group are left
out of both.
Prints each run's ratio and the medians; targets: >= 0.6 on small packets, >= 0.35 on
base64 64 KiB chunks.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from cosmic_horizons.archiver.archiver import Archiver, ArchiverStats
from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.archiver.workers import default_workers
from cosmic_horizons.broker import EmbeddedBroker, find_free_port
from cosmic_horizons.clients import consumer_config
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.packet import KafkaPayload, Metrics, encode_packet, packet_headers

#: Records per consume() call on both sides: the archiver's own default batch.
BATCH = 2_000


def make_values(n: int, chunk_bytes: int) -> list[tuple[bytes, bytes, int]]:
    chunk = base64.b64encode(bytes(range(256)) * (chunk_bytes // 256 + 1))[: 4 * (chunk_bytes // 3)]
    out = []
    base_ms = 1_795_780_800_000  # 2026-11-27T08:00:00Z
    for i in range(n):
        site = i % 5 + 1
        element = f"element-{site}-{i % 263}"
        ms = base_ms + i  # one packet per millisecond: 200k packets span ~3 minutes
        packet = KafkaPayload(
            source_id=element,
            target_id=f"site-{site}",
            route_type="node_to_hub",
            element_id=element,
            site_id=f"site-{site}",
            timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
            + f".{ms % 1000:03d}Z",
            metrics=Metrics(
                vibration=0.01 * (i % 97),
                power_usage=1500.0 + i % 311,
                noise_floor=-98.5 - (i % 7),
                rfi_level=-107.25 + (i % 13),
            ),
            data_chunk=chunk.decode() if chunk_bytes else None,
        )
        out.append((element.encode(), encode_packet(packet), ms))
    return out


def produce(bootstrap: str, topic: str, values: list[tuple[bytes, bytes, int]]) -> None:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "compression.type": "snappy",
            "queue.buffering.max.messages": 500_000,
        }
    )
    headers = packet_headers()
    for key, value, ms in values:
        while True:
            try:
                producer.produce(topic, value, key, timestamp=ms, headers=headers)
                break
            except BufferError:
                producer.poll(0.01)
    if producer.flush(120):
        raise SystemExit("could not produce the benchmark packets")


def raw_consume(bootstrap: str, topic: str, expected: int, batch: int = BATCH) -> float:
    """Records per second of a bare consumer loop (``consume(num_messages=batch)``, exactly
    the archiver's consumer settings, each value read, nothing decoded, no commits), timed
    from its first batch and counting only the records after it."""
    settings = KafkaSettings(bootstrap_servers=bootstrap, topic=topic)
    consumer = Consumer(
        consumer_config(
            settings,
            "archiver",
            group=f"bench-raw-{uuid.uuid4().hex[:8]}",
            session_timeout_ms=6000,
            heartbeat_interval_ms=500,
        )
    )
    consumer.subscribe([topic])
    got = first = 0
    started = 0.0
    deadline = time.monotonic() + 300
    try:
        while got < expected and time.monotonic() < deadline:
            msgs = consumer.consume(num_messages=batch, timeout=0.5)
            for msg in msgs:
                if msg.error() is None:
                    msg.value()
                    got += 1
            if msgs and not started:
                started, first = time.perf_counter(), got
        elapsed = time.perf_counter() - started
    finally:
        consumer.close()
    if got < expected or got == first:
        raise SystemExit(f"raw consumer read {got} of {expected} (first batch {first})")
    return (got - first) / elapsed


class _TimedStorage(ArchiveStorage):
    """Storage that remembers when the last file became durable."""

    last_put = 0.0

    def put_atomic(self, relpath: str, data: bytes) -> None:
        super().put_atomic(relpath, data)
        self.last_put = time.perf_counter()


def archive_rate(
    settings: KafkaSettings, expected: int, workers: int, batch: int = BATCH
) -> tuple[float, ArchiverStats]:
    """Rows per second of the archiver into a temporary file:// archive, timed from its first
    consumed batch to the last file stored (not the group leave), counting only the rows
    after that batch, as :func:`raw_consume` counts."""
    with tempfile.TemporaryDirectory(prefix="horizons-bench-") as folder:
        storage = _TimedStorage(Path(folder).as_uri())
        archiver = Archiver(
            settings,
            storage,
            group=f"bench-archiver-{uuid.uuid4().hex[:8]}",
            flush_at_end=True,
            stop_at_end=True,
            session_timeout_ms=6000,
            heartbeat_interval_ms=500,
            workers=workers,
            batch_size=batch,
        )
        result: list[ArchiverStats] = []
        thread = threading.Thread(target=lambda: result.append(archiver.run(threading.Event())))
        thread.start()
        while archiver.counters.consumed == 0 and thread.is_alive():
            time.sleep(0.001)
        started, first = time.perf_counter(), archiver.counters.consumed
        thread.join()
        elapsed = storage.last_put - started
    if not result or result[0].rows != expected:
        raise SystemExit(f"archiver stored {result[0].rows if result else 0} of {expected}")
    if first >= expected:
        raise SystemExit(f"the archiver took all {expected} records in its first batch")
    return (expected - first) / elapsed, result[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--chunk-bytes", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--batch",
        type=int,
        default=BATCH,
        help="records per consume() call on both sides (200 for 64 KiB chunks: consume() "
        "waits up to its timeout to fill a batch, and 2,000 large records then time that)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="archiver encoder processes (default: as `horizons archive run`)",
    )
    args = parser.parse_args()

    broker = EmbeddedBroker(find_free_port())
    broker.start()
    try:
        topic = f"bench.archive.{uuid.uuid4().hex[:8]}"
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
        values = make_values(args.packets, args.chunk_bytes)
        size = sum(len(v) for _, v, _ in values) / len(values)
        print(f"producing {args.packets:,} packets of ~{size:.0f} bytes into {topic} ...")
        print(
            f"(a) raw: bare consume(num_messages={args.batch:,}) loop, the archiver's consumer "
            "settings, value read, nothing decoded\n"
            f"(b) archiver, --workers {args.workers}: decode + validate + base64 check, "
            "Parquet, fsync'd file://, commit"
        )
        produce(broker.bootstrap, topic, values)
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap, topic=topic)
        raw_rates, arch_rates = [], []
        for run in range(1, args.runs + 1):
            raw = raw_consume(broker.bootstrap, topic, args.packets, args.batch)
            arch, stats = archive_rate(settings, args.packets, args.workers, args.batch)
            raw_rates.append(raw)
            arch_rates.append(arch)
            print(
                f"run {run}: raw consume {raw:,.0f} records/s   archiver {arch:,.0f} rows/s "
                f"({stats.files} files, {stats.bytes / 1e6:.1f} MB)   ratio {arch / raw:.2f}"
            )
        raw_m, arch_m = statistics.median(raw_rates), statistics.median(arch_rates)
        ratio = arch_m / raw_m
        run_ratio = statistics.median(a / r for a, r in zip(arch_rates, raw_rates, strict=True))
        print(
            f"median of {args.runs}: (a) raw consume {raw_m:,.0f} records/s, "
            f"(b) archiver {arch_m:,.0f} rows/s, ratio (b)/(a) = {ratio:.2f} "
            f"(median of the runs' ratios {run_ratio:.2f}; "
            "target >= 0.6 small packets, >= 0.35 base64 64 KiB chunks)"
        )
        return 0
    finally:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
