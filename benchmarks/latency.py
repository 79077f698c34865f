"""Publish-to-consume latency at a fixed rate: the Publisher against the raw client, one run.

For each engine (the embedded Tansu broker, one Kafka node, three Kafka nodes), a fresh topic
of three partitions, and for each side in turn:

(a) raw: a confluent-kafka Producer with the publisher's settings (``producer_config``),
    failures-only reports, producing pre-serialized packets with the record timestamp set to
    the send time, one poll per batch;
(b) publisher: ``Publisher.publish_many`` of packets built and validated from plain values,
    their timestamp the send time (which becomes the record timestamp).

Both send ``--rate`` packets per second in batches every 10 ms for ``--seconds`` seconds.
A consumer with the project's ``consume`` settings (its fetch wait included) reads the topic
in the same process; latency is its receive time minus the record timestamp (millisecond
resolution), the first second left out (connections warming up); before both, an unmeasured
three-second round warms the fresh broker. Prints p50/p99/p99.9 of
each side and the publisher's p99 over the raw client's (target <= 1.1).

    .venv/bin/python -m benchmarks.latency [--engines tansu,kafka1,kafka3] [--rate 10000]
        [--seconds 20]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cosmic_horizons.broker import EmbeddedBroker, find_free_port
from cosmic_horizons.clients import FETCH_WAIT_MS, consumer_config, producer_config
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.kafka_local import LocalKafkaCluster
from cosmic_horizons.packet import KafkaPayload, Metrics, encode_packet, packet_headers
from cosmic_horizons.publisher import Publisher

PARTITIONS = 3
BATCH_S = 0.01
WARMUP_S = 1.0
WARMUP_ROUND_S = 3.0


@contextmanager
def engine(name: str) -> Iterator[tuple[str, KafkaSettings, int]]:
    """The engine's bootstrap, client settings and replication factor."""
    if name == "tansu":
        with EmbeddedBroker(find_free_port()) as broker:
            yield broker.bootstrap, KafkaSettings(bootstrap_servers=broker.bootstrap), 1
        return
    nodes = {"kafka1": 1, "kafka3": 3}[name]
    with tempfile.TemporaryDirectory(prefix="horizons-latency-") as folder:
        cluster = LocalKafkaCluster(Path(folder), nodes, profile="prod" if nodes > 1 else "dev")
        cluster.start()
        try:
            profile = "prod" if nodes > 1 else "dev"
            yield cluster.bootstrap, KafkaSettings(cluster.bootstrap, profile=profile), nodes
        finally:
            cluster.stop()


def new_topic(bootstrap: str, replicas: int) -> str:
    name = f"bench.latency.{uuid.uuid4().hex[:8]}"
    configs = {"min.insync.replicas": "2"} if replicas > 1 else {}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, PARTITIONS, replicas, config=configs)])[name].result(30)
    time.sleep(1.0)  # leaders elected and known to every node
    return name


def now_stamp() -> tuple[str, int]:
    now = datetime.now(UTC)
    ms = int(now.timestamp() * 1000)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z", ms


def packet(i: int, stamp: str) -> KafkaPayload:
    site = i % 5 + 1
    element = f"element-{site}-{i % 263}"
    return KafkaPayload(
        source_id=element,
        target_id=f"site-{site}",
        route_type="node_to_hub",
        element_id=element,
        site_id=f"site-{site}",
        timestamp=stamp,
        metrics=Metrics(
            vibration=0.01 * (i % 97),
            power_usage=1500.0 + i % 311,
            noise_floor=-98.5,
            rfi_level=-107.25,
        ),
    )


class Reader:
    """The project's ``consume`` consumer on every partition, noting each record's latency."""

    def __init__(self, settings: KafkaSettings, topic: str) -> None:
        conf = consumer_config(
            settings, "consume", group=f"bench-latency-{uuid.uuid4().hex[:8]}", from_beginning=True
        )
        self.consumer = Consumer(conf)
        self.consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)]
        )
        self.latencies: list[float] = []
        self.count = 0
        self.start_ms = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        # poll() returns as soon as a record is there; what else has arrived by then is taken
        # without waiting. (consume(num_messages=N, timeout=T) waits T to fill N, which would
        # add up to T to every latency here.)
        poll, consume, out = self.consumer.poll, self.consumer.consume, self.latencies
        while not self.stop.is_set():
            first = poll(0.05)
            if first is None:
                continue
            now = time.time() * 1000
            batch = [first, *consume(num_messages=10_000, timeout=0)]
            for msg in batch:
                if msg.error() is None:
                    self.count += 1
                    ts = msg.timestamp()[1]
                    if ts >= self.start_ms:
                        out.append(now - ts)

    def close(self, expected: int, timeout: float = 30.0) -> np.ndarray:
        deadline = time.monotonic() + timeout
        while self.count < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        self.stop.set()
        self.thread.join()
        self.consumer.close()
        if self.count < expected:
            raise SystemExit(f"consumer read {self.count} of {expected} records")
        return np.array(self.latencies)


def paced(rate: int, seconds: float, send: Callable[[int, int], None]) -> int:
    """Call send(first index, count) every BATCH_S so that ``rate`` packets/s go out."""
    per_batch = max(1, round(rate * BATCH_S))
    batches = int(seconds / BATCH_S)
    start = time.perf_counter()
    for b in range(batches):
        wait = start + b * BATCH_S - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        send(b * per_batch, per_batch)
    return batches * per_batch


def run_raw(settings: KafkaSettings, topic: str, rate: int, seconds: float) -> int:
    conf = producer_config(settings)
    conf["delivery.report.only.error"] = True
    conf["on_delivery"] = lambda err, msg: None
    producer = Producer(conf)
    produce, headers = producer.produce, packet_headers()
    stamp = now_stamp()[0]
    values = [
        (p.element_id.encode(), encode_packet(p)) for p in (packet(i, stamp) for i in range(263))
    ]

    def send(first: int, count: int) -> None:
        ms = int(time.time() * 1000)
        for i in range(first, first + count):
            key, value = values[i % 263]
            while True:
                try:
                    produce(topic, value, key, timestamp=ms, headers=headers)
                    break
                except BufferError:  # local queue full: wait, as the publisher does
                    producer.poll(0.01)
        producer.poll(0)

    sent = paced(rate, seconds, send)
    producer.flush(30)
    return sent


def run_publisher(settings: KafkaSettings, topic: str, rate: int, seconds: float) -> int:
    publisher = Publisher(settings, topic=topic)

    def send(first: int, count: int) -> None:
        stamp = now_stamp()[0]
        publisher.publish_many([packet(i, stamp) for i in range(first, first + count)])

    sent = paced(rate, seconds, send)
    publisher.close(30)
    return sent


def measure(
    side: str, settings: KafkaSettings, bootstrap: str, replicas: int, rate: int, seconds: float
) -> np.ndarray:
    topic = new_topic(bootstrap, replicas)
    reader = Reader(settings, topic)
    time.sleep(1.0)  # the consumer connected and fetching
    reader.start_ms = time.time() * 1000 + WARMUP_S * 1000
    run = run_raw if side == "raw" else run_publisher
    sent = run(settings, topic, rate, seconds)
    return reader.close(sent)


def pcts(lat: np.ndarray) -> tuple[float, float, float]:
    p50, p99, p999 = np.percentile(lat, [50, 99, 99.9])
    return float(p50), float(p99), float(p999)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--engines", default="tansu,kafka1,kafka3")
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    print(
        f"{args.rate:,} packets/s in batches every {BATCH_S * 1000:.0f} ms for "
        f"{args.seconds:.0f} s per side; {PARTITIONS} partitions; latency = consumer receive "
        f"time - record timestamp (ms resolution), first {WARMUP_S:.0f} s left out; consumer "
        f"fetch.wait.max.ms={FETCH_WAIT_MS} (the project's consume settings)"
    )
    for name in args.engines.split(","):
        with engine(name) as (bootstrap, settings, replicas):
            figures = {}
            # Unmeasured: a fresh broker's first seconds (JIT, first segments) go to neither side.
            run_raw(settings, new_topic(bootstrap, replicas), args.rate, WARMUP_ROUND_S)
            for side in ("raw", "publisher"):
                lat = measure(side, settings, bootstrap, replicas, args.rate, args.seconds)
                figures[side] = pcts(lat)
                p50, p99, p999 = figures[side]
                acks = producer_config(settings)["acks"]
                print(
                    f"{name} ({settings.profile} profile, acks={acks}) {side:9s}: "
                    f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  p99.9 {p999:6.1f} ms  "
                    f"({len(lat):,} records)"
                )
            raw, pub = figures["raw"], figures["publisher"]
            print(
                f"{name}: publisher/raw p50 {pub[0] / raw[0]:.2f}  p99 {pub[1] / raw[1]:.2f} "
                f"(target <= 1.1)  p99.9 {pub[2] / raw[2]:.2f}"
            )


if __name__ == "__main__":
    main()
