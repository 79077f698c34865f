"""Publisher throughput against a lean raw confluent-kafka loop, measured in the same run.

(a) lean raw: a confluent-kafka Producer (the publisher's settings) producing the same records:
    pre-serialized value, key, the two headers and the record timestamp; failures-only delivery
    reports (``delivery.report.only.error``), no poll per record (only when the local queue is
    full); the clock stops when every record is acknowledged (flush);
(b) publisher: cosmic_horizons.Publisher producing the same number of packets, each built and
    validated from plain Python values (KafkaPayload(...)) and encoded inside the timed loop,
    handed over one array tick (263 packets) at a time with publish_many(), as the simulator
    and a telemetry reader do; the clock stops at flush, like (a);
(c) the same, one packet at a time with publish().

Prints what each side includes, the rates and the ratios (b)/(a) and (c)/(a) for each round
and their medians. Targets: (b)/(a) >= 0.75, (c)/(a) >= 0.6.

    .venv/bin/python -m benchmarks.publish [--packets 100000] [--rounds 3] [--chunk-samples 0]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from cosmic_horizons.broker import EmbeddedBroker, find_free_port
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.packet import KafkaPayload, Metrics, encode_packet, packet_headers
from cosmic_horizons.publisher import Publisher, producer_config
from cosmic_horizons.simulator import ArraySimulator

Row = tuple[str, str, str, str, str, str, float, float, float, float, str | None]


def source_rows(n: int, chunk_samples: int) -> list[Row]:
    """Plain Python values of ``n`` simulated packets (what a telemetry reader would hand over)."""
    sim = ArraySimulator(263, 5, seed=1, chunk_samples=chunk_samples)
    return [
        (
            p.source_id,
            p.target_id,
            p.route_type,
            p.element_id,
            p.site_id,
            p.timestamp,
            p.metrics.vibration,
            p.metrics.power_usage,
            p.metrics.noise_floor,
            p.metrics.rfi_level,
            p.data_chunk,
        )
        for p in sim.packets(n)
    ]


def connected_producer(conf: dict[str, object], topic: str) -> Producer:
    """A raw producer that has fetched ``topic``'s metadata, as the Publisher's constructor
    does: neither side's clock then includes connecting."""
    producer = Producer(conf)
    producer.list_topics(topic, timeout=10)
    return producer


def new_topic(bootstrap: str) -> str:
    name = f"bench.publish.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(10)
    return name


Measure = tuple[float, float]  # (packets per second, main-thread CPU microseconds per packet)


def run_raw(settings: KafkaSettings, topic: str, values: list[tuple[bytes, bytes, int]]) -> Measure:
    """The lean raw loop: what a competent user of the raw client writes."""
    failed = 0

    def on_delivery(err: object, msg: object) -> None:
        nonlocal failed
        if err is not None:
            failed += 1

    conf = producer_config(settings)
    conf["delivery.report.only.error"] = True
    conf["on_delivery"] = on_delivery
    producer = connected_producer(conf, topic)
    produce, headers = producer.produce, packet_headers()
    started, cpu = time.perf_counter(), time.thread_time()
    for key, value, ts in values:
        try:
            produce(topic, value, key, timestamp=ts, headers=headers)
        except BufferError:
            while True:
                producer.poll(0.01)
                try:
                    produce(topic, value, key, timestamp=ts, headers=headers)
                    break
                except BufferError:
                    continue
    left = producer.flush(120)
    elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu
    if failed or left:
        raise SystemExit(f"raw loop: {failed} failed, {left} undelivered of {len(values)}")
    return len(values) / elapsed, cpu / len(values) * 1e6


def build(row: Row) -> KafkaPayload:
    src, tgt, route, elem, site, ts, vib, power, noise, rfi, chunk = row
    return KafkaPayload(
        source_id=src,
        target_id=tgt,
        route_type=route,
        element_id=elem,  # type: ignore[arg-type]
        site_id=site,
        timestamp=ts,
        metrics=Metrics(vibration=vib, power_usage=power, noise_floor=noise, rfi_level=rfi),
        data_chunk=chunk,
    )


def run_publisher(settings: KafkaSettings, topic: str, rows: list[Row], *, tick: int) -> Measure:
    """tick > 1: publish_many() over groups of ``tick`` packets; tick == 1: publish()."""
    publisher = Publisher(settings, topic=topic)
    started, cpu = time.perf_counter(), time.thread_time()
    if tick > 1:
        for i in range(0, len(rows), tick):
            publisher.publish_many([build(row) for row in rows[i : i + tick]])
    else:
        for row in rows:
            publisher.publish(build(row))
    publisher.flush(120)  # every packet acknowledged: the raw loop stops its clock here too
    elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu
    report = publisher.close(120)
    if report.delivered != len(rows):
        raise SystemExit(f"publisher delivered {report.delivered} of {len(rows)}")
    return len(rows) / elapsed, cpu / len(rows) * 1e6


def ratio(side: list[Measure], raw: list[Measure]) -> list[float]:
    return [s[0] / r[0] for s, r in zip(side, raw, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk-samples", type=int, default=0)
    args = parser.parse_args()

    rows = source_rows(args.packets, args.chunk_samples)
    packets = [
        KafkaPayload(
            source_id=r[0],
            target_id=r[1],
            route_type=r[2],
            element_id=r[3],
            site_id=r[4],  # type: ignore[arg-type]
            timestamp=r[5],
            metrics=Metrics(vibration=r[6], power_usage=r[7], noise_floor=r[8], rfi_level=r[9]),
            data_chunk=r[10],
        )
        for r in rows
    ]
    prepared = [(p.element_id.encode(), encode_packet(p), p.timestamp_ms()) for p in packets]
    size = sum(len(v) for _, v, _ in prepared) / len(prepared)
    print(f"{args.packets} packets of {size:.0f} bytes, {args.rounds} rounds, embedded broker")
    print(
        "(a) lean raw: pre-serialized value + key + 2 headers + timestamp, failures-only "
        "reports, no per-record poll, clock stops at flush\n"
        "(b) publish_many: KafkaPayload+Metrics built and validated from plain values, encoded, "
        "produced, one tick of 263 at a time, clock stops at flush\n"
        "(c) publish: the same, one packet per call"
    )
    raw: list[Measure] = []
    many: list[Measure] = []
    single: list[Measure] = []
    with EmbeddedBroker(find_free_port()) as broker:
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap)
        runs = [
            lambda: raw.append(run_raw(settings, new_topic(broker.bootstrap), prepared)),
            lambda: many.append(
                run_publisher(settings, new_topic(broker.bootstrap), rows, tick=263)
            ),
            lambda: single.append(
                run_publisher(settings, new_topic(broker.bootstrap), rows, tick=1)
            ),
        ]
        for i in range(args.rounds):
            # Rotate which side goes first so drift on a shared machine hits all alike.
            for k in range(3):
                runs[(i + k) % 3]()
            (r, rc), (m, mc), (p, pc) = raw[-1], many[-1], single[-1]
            print(
                f"round {i + 1}: raw {r:,.0f}/s ({rc:.2f} us cpu)  "
                f"publish_many {m:,.0f}/s ({mc:.2f} us)  publish {p:,.0f}/s ({pc:.2f} us)  "
                f"ratios {m / r:.2f} {p / r:.2f}"
            )
    med = statistics.median
    print(
        f"median: raw {med(r for r, _ in raw):,.0f}/s  "
        f"publish_many {med(m for m, _ in many):,.0f}/s  "
        f"publish {med(p for p, _ in single):,.0f}/s\n"
        f"ratio publish_many/raw {med(ratio(many, raw)):.2f} (target >= 0.75), "
        f"publish/raw {med(ratio(single, raw)):.2f} (target >= 0.6)\n"
        f"main-thread CPU per packet: raw {med(c for _, c in raw):.2f} us, publish_many "
        f"{med(c for _, c in many):.2f} us, publish {med(c for _, c in single):.2f} us"
    )


if __name__ == "__main__":
    main()
