"""How cost grows: the publisher and the array view at 263, 2,630 and 26,300 elements, the API
poll at 10, 100 and 1,000 topics, and /api/array at 26,300 elements against plain encoding.

(a) publisher: one tick (a packet per element) at a time with publish_many(), packets built
    and validated from plain values inside the timed region, every packet acknowledged before
    the clock stops (embedded broker); main-thread CPU per packet, RSS growth;
(b) array view: ingest() of every element's packet (decode, validate, keep; what its consumer
    thread does per record), timed on the second packet of each element (the steady state), and
    one snapshot build and its encoding; CPU per packet and per snapshot, RSS growth;
(c) API poll: the API's poller (monitor snapshot, group lag, topic list) with N extra topics on
    the embedded broker; median wall time of a poll;
(d) /api/array at 26,300 elements: median latency of a keep-alive GET over loopback (by curl,
    to /dev/null) when every
    request builds its snapshot (a miss) and within the shared interval (a hit), against
    msgspec encoding alone and against json.dumps of the same snapshot (the plain baseline).

RSS is the process's resident size (VmRSS) after minus before; CPU is thread time.

    .venv/bin/python -m benchmarks.scale [--sections publisher,view,poll,api] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable

import httpx
import msgspec
from confluent_kafka.admin import AdminClient, NewTopic

from cosmic_horizons.api import ApiServer, ApiState, create_app
from cosmic_horizons.api.state import DataPlaneCache
from cosmic_horizons.array_view import ArrayView, HealthThresholds
from cosmic_horizons.broker import EmbeddedBroker, find_free_port
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.monitor import Monitor
from cosmic_horizons.packet import KafkaPayload, Metrics, encode_packet
from cosmic_horizons.publisher import Publisher
from cosmic_horizons.simulator import ArraySimulator

SIZES = (263, 2_630, 26_300)
TOPICS = (10, 100, 1_000)


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def ticks(elements: int, count: int) -> list[list[tuple[object, ...]]]:
    """``count`` ticks of plain values, one packet per element each (sites of 263 elements)."""
    sim = ArraySimulator(elements, max(1, elements // 263), seed=1)
    out = []
    for _ in range(count):
        out.append(
            [
                (
                    *(p.source_id, p.target_id, p.route_type, p.element_id, p.site_id),
                    p.timestamp,
                    *(p.metrics.vibration, p.metrics.power_usage),
                    *(p.metrics.noise_floor, p.metrics.rfi_level),
                )
                for p in sim.tick()
            ]
        )
    return out


def build(v: tuple[object, ...]) -> KafkaPayload:
    return KafkaPayload(
        source_id=v[0],  # type: ignore[arg-type]
        target_id=v[1],  # type: ignore[arg-type]
        route_type=v[2],  # type: ignore[arg-type]
        element_id=v[3],  # type: ignore[arg-type]
        site_id=v[4],  # type: ignore[arg-type]
        timestamp=v[5],  # type: ignore[arg-type]
        metrics=Metrics(
            vibration=v[6],  # type: ignore[arg-type]
            power_usage=v[7],  # type: ignore[arg-type]
            noise_floor=v[8],  # type: ignore[arg-type]
            rfi_level=v[9],  # type: ignore[arg-type]
        ),
    )


def new_topic(bootstrap: str, prefix: str = "bench.scale") -> str:
    name = f"{prefix}.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept until the topic exists
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
    return name


def publisher_row(settings: KafkaSettings, elements: int, packets: int) -> str:
    data = ticks(elements, max(1, packets // elements))
    topic = new_topic(settings.bootstrap_servers or "")
    before = rss_mib()
    publisher = Publisher(settings, topic=topic)
    started, cpu = time.perf_counter(), time.thread_time()
    for tick in data:
        publisher.publish_many([build(v) for v in tick])
    publisher.flush(120)
    elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu
    grown = rss_mib() - before
    n = sum(len(t) for t in data)
    publisher.close(60)
    return (
        f"| publisher | {elements:,} | {n:,} | {cpu / n * 1e6:.2f} µs "
        f"| {n / elapsed / 1e3:.0f} k/s | {grown:+.0f} MiB |"
    )


def median_cpu(f: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        cpu = time.thread_time()
        f()
        times.append(time.thread_time() - cpu)
    return statistics.median(times)


def filled_view(elements: int) -> tuple[ArrayView, float, float]:
    """A view holding one packet per element; (view, ingest CPU µs per packet, RSS growth)."""
    values = [encode_packet(p) for p in ArraySimulator(elements, max(1, elements // 263)).tick()]
    before = rss_mib()
    view = ArrayView(
        KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        thresholds=HealthThresholds(stale_after_s=3600.0),
    )
    for offset, value in enumerate(values):  # first sight: each element's sort key is computed
        view.ingest(value, offset=offset)
    cpu = time.thread_time()
    for offset, value in enumerate(values):  # the steady state: every element updated
        view.ingest(value, offset=elements + offset)
    cpu = time.thread_time() - cpu
    return view, cpu / len(values) * 1e6, rss_mib() - before


def view_row(elements: int, rounds: int) -> str:
    view, per_packet, grown = filled_view(elements)
    snapshot_s = median_cpu(view.snapshot, rounds)
    snap = view.snapshot()
    encode = msgspec.json.Encoder().encode
    encode_s = median_cpu(lambda: encode(snap), rounds)
    return (
        f"| array view | {elements:,} | {view.elements:,} | {per_packet:.2f} µs "
        f"| snapshot {snapshot_s * 1e3:.1f} ms + encode {encode_s * 1e3:.1f} ms "
        f"({len(encode(snap)) / 2**20:.1f} MiB) | {grown:+.0f} MiB |"
    )


def poll_rows(settings: KafkaSettings, rounds: int) -> list[str]:
    bootstrap = settings.bootstrap_servers or ""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    monitor = Monitor(settings)
    cache = DataPlaneCache(monitor, settings)
    rows, made = [], 0
    try:
        for total in TOPICS:
            names = [f"bench.poll.{uuid.uuid4().hex[:8]}" for _ in range(total - made)]
            for i in range(0, len(names), 100):
                futures = admin.create_topics([NewTopic(n, 1, 1) for n in names[i : i + 100]])
                for f in futures.values():
                    f.result(60)
            made = total
            cache.poll_once()  # warm: connections, the admin client
            walls, cpus = [], []
            for _ in range(rounds):
                started, cpu = time.perf_counter(), time.thread_time()
                cache.poll_once()
                walls.append(time.perf_counter() - started)
                cpus.append(time.thread_time() - cpu)
            seen = len(cache.topics.topics)
            wall, busy = statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3
            rows.append(
                f"| API poll | {total:,} ({seen:,} listed) | {wall:.1f} ms | {busy:.1f} ms |"
            )
    finally:
        monitor.close()
    return rows


def curl_times(url: str, n: int) -> list[float]:
    """Seconds per GET of ``url``, ``n`` times over one keep-alive connection, by curl.

    A client in another process: an httpx client in this one would share the server's GIL and
    spend as long parsing 10 MB as the server spends sending it.
    """
    out = subprocess.run(
        ["curl", "-s", "-w", "%{time_total}\\n", *([url, "-o", "/dev/null"] * n)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [float(line) for line in out.split()]


def api_rows(rounds: int) -> list[str]:
    view, _, _ = filled_view(26_300)
    snap = view.snapshot()
    encode = msgspec.json.Encoder().encode
    plain = msgspec.to_builtins(snap)
    cpu_ms = {
        "msgspec encode of the snapshot": median_cpu(lambda: encode(snap), rounds),
        "json.dumps of the same snapshot (as dicts)": median_cpu(lambda: json.dumps(plain), rounds),
        "snapshot build + msgspec encode": median_cpu(lambda: encode(view.snapshot()), rounds),
    }
    rows = [f"| {label} | {s * 1e3:.1f} ms (CPU) |" for label, s in cpu_ms.items()]
    for label, interval in (("miss: each request builds", 0.0), ("hit: shared interval", 3600.0)):
        settings = KafkaSettings(bootstrap_servers="127.0.0.1:1")
        state = ApiState(
            settings=settings,
            monitor=Monitor(settings, timeout=1.0),
            array=view,
            array_interval=interval,
        )
        with (
            ApiServer(create_app(state), port=0) as server,
            httpx.Client(base_url=server.url, timeout=60) as client,
        ):
            count = len(msgspec.json.decode(client.get("/api/array").content)["elements"])
            walls = curl_times(server.url + "/api/array", max(5, rounds * 3))
        state.monitor.close()
        rows.append(
            f"| GET /api/array, {label} ({count:,} elements) | "
            f"{statistics.median(walls) * 1e3:.1f} ms (wall, median) |"
        )
    view.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="publisher,view,poll,api")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--packets", type=int, default=52_600, help="per publisher row")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    broker = None
    if sections & {"publisher", "poll"}:
        broker = EmbeddedBroker(find_free_port())
        broker.start()
    try:
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap if broker else "127.0.0.1:1")
        if "publisher" in sections or "view" in sections:
            print(
                "| part | elements | packets / elements | CPU per packet | rate / snapshot | RSS |"
            )
            print("|---|---|---|---|---|---|")
        if "publisher" in sections:
            for n in SIZES:
                print(publisher_row(settings, n, max(args.packets, n)), flush=True)
        if "view" in sections:
            for n in SIZES:
                print(view_row(n, args.rounds), flush=True)
        if "poll" in sections:
            print("\n| part | topics | wall per poll | CPU per poll |\n|---|---|---|---|")
            for row in poll_rows(settings, args.rounds):
                print(row, flush=True)
        if "api" in sections:
            print("\n| 26,300 elements | median |\n|---|---|")
            for row in api_rows(args.rounds):
                print(row, flush=True)
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
