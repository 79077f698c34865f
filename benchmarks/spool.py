"""Store and forward, measured in one run on an embedded broker of its own:

(a) live, no spool: publish_many() of simulated ticks (263 packets) as fast as it goes, to ack;
(b) live, with a spool (every packet journalled before publish returns, removed on its ack);
(c) spooling: the broker stopped, the same publishing as fast as it goes (to disk only);
(d) an outage at a steady --outage-rate (default 5,000 packets/s) for --outage seconds with RSS
    sampled every 5 s (memory must stay flat: the backlog is on disk, not in librdkafka);
(e) the drain after the broker is back (--drain-rate 0: unlimited), while nothing new arrives:
    its rate counted from when the publisher sees the broker again (the reconnect, which
    librdkafka's backoff can make take seconds, is stated apart).

    .venv/bin/python -m benchmarks.spool [--packets 100000] [--outage 300] [--outage-rate 5000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

from cosmic_horizons.broker import EmbeddedBroker, find_free_port
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.packet import KafkaPayload
from cosmic_horizons.publisher import Publisher
from cosmic_horizons.simulator import ArraySimulator
from cosmic_horizons.spool import SpoolSettings

TICK = 263


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def create_topic(bootstrap: str, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 3, 1)])[name].result(15)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        topic = admin.list_topics(timeout=5).topics.get(name)
        if topic and topic.error is None and all(p.leader >= 0 for p in topic.partitions.values()):
            return
        time.sleep(0.2)


def ticks(n: int) -> list[list[KafkaPayload]]:
    packets = list(ArraySimulator(TICK, 5, seed=1).packets(n))
    return [packets[i : i + TICK] for i in range(0, n, TICK)]


CPU: dict[str, float] = {}
"""This process's CPU time per packet (µs) in each phase: less at the mercy of a loaded
machine than the rates."""


def burst(pub: Publisher, batches: list[list[KafkaPayload]], *, to_ack: bool, phase: str) -> float:
    """Packets per second: publish every batch (and, with ``to_ack``, wait for the acks)."""
    started, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        pub.publish_many(batch)
    if to_ack:
        assert pub.flush(120) == 0, "not everything acknowledged"
    n = sum(map(len, batches))
    CPU[phase] = (time.process_time() - cpu) / n * 1e6
    return n / (time.perf_counter() - started)


def paced_outage(pub: Publisher, seconds: float, rate: float) -> list[tuple[float, float]]:
    """Publish ticks at ``rate`` packets/s for ``seconds``; RSS (MiB) every 5 s."""
    batches = ticks(TICK * 40)
    period = TICK / rate
    samples = [(0.0, rss_mib())]
    started = time.monotonic()
    n = 0
    while (now := time.monotonic()) - started < seconds:
        pub.publish_many(batches[n % len(batches)])
        n += 1
        if now - started >= 5 * len(samples):
            samples.append((round(now - started), rss_mib()))
        due = started + n * period
        time.sleep(max(0.0, due - time.monotonic()))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=100_000)
    parser.add_argument("--outage", type=float, default=300.0, help="seconds")
    parser.add_argument("--outage-rate", type=float, default=5000.0)
    args = parser.parse_args()
    port = find_free_port()
    broker = EmbeddedBroker(port).start()
    spool_dir = Path(tempfile.mkdtemp(prefix="bench-spool-"))
    topic = f"bench.spool.{uuid.uuid4().hex[:8]}"
    try:
        create_topic(broker.bootstrap, topic)
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap, topic=topic)
        batches = ticks(args.packets)
        with Publisher(settings) as pub:
            live_plain = burst(pub, batches, to_ack=True, phase="a")
        spool = SpoolSettings(path=spool_dir, drain_rate=0)
        with Publisher(settings, spool=spool) as pub:
            live_spool = burst(pub, batches, to_ack=True, phase="b")
            broker.stop()
            time.sleep(1.0)  # librdkafka notices (all brokers down): the publisher spools
            spooling = burst(pub, batches, to_ack=False, phase="c")
            samples = paced_outage(pub, args.outage, args.outage_rate)
            view = pub.spool_view()
            assert view is not None
            backlog, spool_bytes = view.status.records, view.status.bytes
            broker = EmbeddedBroker(port).start()
            create_topic(broker.bootstrap, topic)
            started = time.perf_counter()
            while (v := pub.spool_view()) is not None and v.outage is not None:
                time.sleep(0.01)
            reconnect_s = time.perf_counter() - started
            back = pub.spool_view()
            assert back is not None
            pending = back.status.records
            cpu = time.process_time()
            left = pub.flush(600)
            CPU["e"] = (time.process_time() - cpu) / max(1, pending) * 1e6
            drained_s = time.perf_counter() - started - reconnect_s
        print(f"packets per burst: {args.packets:,} (ticks of {TICK})")
        print(f"(a) live, no spool:        {live_plain:10,.0f} packets/s (to ack)")
        print(f"(b) live, with a spool:    {live_spool:10,.0f} packets/s (to ack)")
        print(f"(c) spooling (broker down):{spooling:10,.0f} packets/s (to disk)")
        print(
            f"(d) outage {args.outage:.0f} s at {args.outage_rate:,.0f}/s: backlog "
            f"{backlog:,} packets, {spool_bytes / 2**20:,.0f} MiB on disk; RSS MiB "
            + ", ".join(f"{t:.0f}s={m:.0f}" for t, m in samples)
        )
        rss = [m for _, m in samples]
        print(f"    RSS min {min(rss):.0f} MiB, max {max(rss):.0f} MiB")
        drain = pending / drained_s
        print(
            f"(e) drain: reconnect {reconnect_s:.1f} s, then {pending:,} packets in "
            f"{drained_s:.1f} s = {drain:,.0f} packets/s (left {left})"
        )
        print(
            f"ratios to (a): (b) {live_spool / live_plain:.2f}, (c) {spooling / live_plain:.2f}, "
            f"(e) {drain / live_plain:.2f}; drain / (b) {drain / live_spool:.2f}; "
            f"drain / outage rate {drain / args.outage_rate:.1f}"
        )
        print("CPU µs per packet: " + ", ".join(f"({k}) {v:.1f}" for k, v in CPU.items()))
    finally:
        broker.stop()
        shutil.rmtree(spool_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
