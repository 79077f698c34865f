"""The binary visibility path: the Publisher against a lean raw binary producer, and the
archiver on binary chunks against raw consume, measured in the same run.

(a) lean raw binary producer: a confluent-kafka Producer (the publisher's settings) producing
    pre-built binary values (``encode_binary`` before the clock starts), key, the two headers
    (binary content-type) and the record timestamp; failures-only delivery reports, no poll
    per record; the clock stops when every record is acknowledged (flush);
(b) Publisher(encoding="binary"): each packet built and validated from plain values inside the
    timed loop, its chunk handed over as raw bytes, ``publish_many`` one tick (263 packets)
    at a time; the clock stops at flush, like (a);
(c) raw consume: a bare consumer loop with exactly the archiver's consumer settings
    (``consumer_config(..., "archiver")``) over a topic of binary packets, reading each value;
(d) the archiver over the same topic, encoding in its own process: header checked, fields
    cut and validated, the chunk bytes joined into the column (no base64), Parquet, fsync'd
    file://, commit.
Both consume at most 200 records per call and are timed from their first batch to the last
record read (c) or stored (d), counting only the records after that batch: a first batch can
hold most of a small topic (consume() waits up to 0.5 s filling it), which would make either
side's rate meaningless.

Both producers fetch the topic's metadata before their clock starts, and an unmeasured round
of each warms the fresh broker first. Each producing round writes a fresh topic, deleted after
it (the embedded broker holds everything in memory).

Prints the rates (MB/s of record values), each round's ratio and the medians. Targets:
(b)/(a) >= 0.9 for 64 KiB and 512 KiB chunks, (d)/(c) >= 0.5.

    .venv/bin/python -m benchmarks.binary [--rounds 3] [--megabytes 512]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from confluent_kafka.admin import AdminClient

from benchmarks.archive import archive_rate, raw_consume
from benchmarks.publish import connected_producer, new_topic
from cosmic_horizons.broker import EmbeddedBroker, find_free_port
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.packet import KafkaPayload, Metrics, packet_headers
from cosmic_horizons.packet_binary import encode_binary
from cosmic_horizons.publisher import Publisher, producer_config

Row = tuple[str, str, str, float, float, bytes]
TICK = 263
#: Records per consume() call on both consuming sides (200 x 64 KiB: 13 MB).
BATCH = 200


def rows(n: int, chunk_size: int) -> list[Row]:
    """Plain values of ``n`` packets: element, site, timestamp, two metrics, raw chunk."""
    base = bytes(range(256)) * (chunk_size // 256 + 1)
    out = []
    for i in range(n):
        site = i % 5 + 1
        ms = 1_795_780_800_000 + i
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
        chunk = base[i % 256 : i % 256 + chunk_size]
        out.append((f"element-{site}-{i % TICK}", f"site-{site}", stamp, 0.01 * i, 1500.0, chunk))
    return out


def build(row: Row) -> KafkaPayload:
    element, site, stamp, vib, power, _chunk = row
    return KafkaPayload(
        source_id=element,
        target_id=site,
        route_type="node_to_hub",
        element_id=element,
        site_id=site,
        timestamp=stamp,
        metrics=Metrics(vibration=vib, power_usage=power, noise_floor=-98.5, rfi_level=-107.0),
    )


def run_raw(settings: KafkaSettings, topic: str, values: list[tuple[bytes, bytes, int]]) -> float:
    """Value MB/s of the lean raw producer."""
    failed = 0

    def on_delivery(err: object, _msg: object) -> None:
        nonlocal failed
        failed += err is not None

    conf = producer_config(settings)
    conf.update({"delivery.report.only.error": True, "on_delivery": on_delivery})
    producer = connected_producer(conf, topic)
    produce, headers = producer.produce, packet_headers("binary")
    started = time.perf_counter()
    for key, value, ts in values:
        while True:
            try:
                produce(topic, value, key, timestamp=ts, headers=headers)
                break
            except BufferError:
                producer.poll(0.01)
    left = producer.flush(120)
    elapsed = time.perf_counter() - started
    if failed or left:
        raise SystemExit(f"raw producer: {failed} failed, {left} undelivered")
    return sum(len(v) for _, v, _ in values) / elapsed / 1e6


def run_publisher(settings: KafkaSettings, topic: str, items: list[Row]) -> float:
    """Value MB/s of Publisher(encoding="binary").publish_many, one tick at a time."""
    publisher = Publisher(settings, topic=topic, encoding="binary")
    before = publisher.snapshot().bytes
    started = time.perf_counter()
    for i in range(0, len(items), TICK):
        tick = items[i : i + TICK]
        publisher.publish_many([build(r) for r in tick], [r[5] for r in tick])
    publisher.flush(120)
    elapsed = time.perf_counter() - started
    sent = publisher.snapshot().bytes - before
    report = publisher.close(120)
    if report.delivered != len(items):
        raise SystemExit(f"publisher delivered {report.delivered} of {len(items)}")
    return sent / elapsed / 1e6


def on_fresh_topic(bootstrap: str, run: Callable[[str], float]) -> float:
    """``run`` on a new topic, deleted afterwards (the embedded broker keeps all in memory)."""
    topic = new_topic(bootstrap)
    try:
        return run(topic)
    finally:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.delete_topics([topic])[topic].result(30)


def publish_rounds(bootstrap: str, chunk_size: int, megabytes: int, rounds: int) -> float:
    n = max(TICK, megabytes * 1_000_000 // chunk_size)
    items = rows(n, chunk_size)
    values = [
        (r[0].encode(), encode_binary(build(r), r[5]), build(r).timestamp_ms()) for r in items
    ]
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    # An unmeasured round of each first: the first round ran at a third of the speed of the
    # later ones, whichever side came first (the broker's and this process's memory grow).
    on_fresh_topic(bootstrap, lambda t: run_raw(settings, t, values))
    on_fresh_topic(bootstrap, lambda t: run_publisher(settings, t, items))
    ratios = []
    for i in range(rounds):
        sides = [
            lambda: on_fresh_topic(bootstrap, lambda t: run_raw(settings, t, values)),
            lambda: on_fresh_topic(bootstrap, lambda t: run_publisher(settings, t, items)),
        ]
        if i % 2:
            pub, raw = sides[1](), sides[0]()
        else:
            raw, pub = sides[0](), sides[1]()
        ratios.append(pub / raw)
        print(
            f"  {chunk_size // 1024} KiB x {n}: raw {raw:,.0f} MB/s  publisher {pub:,.0f} MB/s  "
            f"ratio {pub / raw:.2f}"
        )
    return statistics.median(ratios)


def archive_rounds(bootstrap: str, chunk_size: int, megabytes: int, rounds: int) -> float:
    n = max(TICK, megabytes * 1_000_000 // chunk_size)
    topic = new_topic(bootstrap)
    settings = KafkaSettings(bootstrap_servers=bootstrap, topic=topic)
    with Publisher(settings, encoding="binary") as pub:
        items = rows(n, chunk_size)
        for i in range(0, n, TICK):
            tick = items[i : i + TICK]
            pub.publish_many([build(r) for r in tick], [r[5] for r in tick])
    ratios = []
    for _ in range(rounds):
        raw = raw_consume(bootstrap, topic, n, BATCH)
        arch, _stats = archive_rate(settings, n, 1, BATCH)
        ratios.append(arch / raw)
        print(
            f"  {chunk_size // 1024} KiB x {n}: raw consume {raw:,.0f} records/s  "
            f"archiver {arch:,.0f} rows/s  ratio {arch / raw:.2f}"
        )
    return statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--megabytes", type=int, default=512, help="value MB per measurement")
    args = parser.parse_args()
    print(__doc__.split("\n\n")[1] if __doc__ else "")
    with EmbeddedBroker(find_free_port()) as broker:
        results = {}
        for size in (64 * 1024, 512 * 1024):
            print(f"publisher vs lean raw binary producer, {size // 1024} KiB chunks:")
            results[f"publisher/raw {size // 1024} KiB"] = publish_rounds(
                broker.bootstrap, size, args.megabytes, args.rounds
            )
        print("archiver (one encoder process) vs raw consume, binary 64 KiB chunks:")
        results["archiver/raw consume 64 KiB"] = archive_rounds(
            broker.bootstrap, 64 * 1024, args.megabytes, args.rounds
        )
    print("medians: " + ", ".join(f"{k} {v:.2f}" for k, v in results.items()))
    print("targets: publisher/raw >= 0.9, archiver/raw consume >= 0.5")


if __name__ == "__main__":
    main()
