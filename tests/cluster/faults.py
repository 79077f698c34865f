"""Helpers of the fault tests: the CLI as a subprocess, numbered packets, a steady publisher,
and reading a whole topic back with a plain consumer.

Every packet of a fault test carries its sequence number in its timestamp (``BASE_MS + n``),
so a record read back names the packet it is, whatever partition or offset it landed on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.kafka_local import LocalKafkaCluster
from cosmic_horizons.packet import KafkaPayload, Metrics
from cosmic_horizons.publisher import DeliveryReport, Publisher

ROOT = Path(__file__).resolve().parents[2]
#: 2026-11-27T12:00:00Z: packet n is timed BASE_MS + n milliseconds.
BASE = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
BASE_MS = int(BASE.timestamp() * 1000)
ELEMENTS = 48


def horizons(*args: str, timeout: float = 60.0, env: Mapping[str, str] | None = None) -> Any:
    """Run ``horizons ARGS`` as a subprocess; the CompletedProcess (text, both streams)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("HORIZONS_ARCHIVER_CRASH_AFTER", None)
    return subprocess.run(
        [sys.executable, "-m", "cosmic_horizons.cli.main", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def horizons_json(*args: str, timeout: float = 60.0) -> tuple[int, Any]:
    """``horizons ARGS --json``: the exit code and the decoded stdout."""
    proc = horizons(*args, "--json", timeout=timeout)
    assert proc.stdout.strip(), f"no JSON from horizons {' '.join(args)}: {proc.stderr[-2000:]}"
    assert proc.returncode >= 0, f"horizons {' '.join(args)} died: {proc.stderr[-3000:]}"
    return proc.returncode, json.loads(proc.stdout)


def unique_name(prefix: str) -> str:
    return f"test.{prefix}.{uuid.uuid4().hex[:8]}"


def create_topic(
    bootstrap: str,
    name: str,
    partitions: int = 3,
    replication: int = 3,
    config: Mapping[str, str] | None = None,
    *,
    on: list[int] | None = None,
) -> None:
    """A topic; ``on`` puts its only partition's replicas on those nodes."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    if on is not None:
        topic = NewTopic(name, 1, replica_assignment=[on], config=dict(config or {}))
    else:
        topic = NewTopic(name, partitions, replication, config=dict(config or {}))
    admin.create_topics([topic], operation_timeout=20)[name].result(30)


def prod_topic(bootstrap: str, name: str) -> None:
    """A topic laid out as the prod profile wants it: 3 partitions, RF 3, min ISR 2."""
    create_topic(bootstrap, name, 3, 3, {"min.insync.replicas": "2"})


def packet(n: int) -> KafkaPayload:
    """Packet ``n``: one of ELEMENTS elements, timed BASE_MS + n ms (unique per packet)."""
    site = n % 5 + 1
    element = f"element-{site}-{n % ELEMENTS}"
    stamp = (BASE + timedelta(milliseconds=n)).isoformat(timespec="milliseconds")
    return KafkaPayload(
        source_id=element,
        target_id=f"site-{site}",
        route_type="node_to_hub",
        element_id=element,
        site_id=f"site-{site}",
        timestamp=stamp.replace("+00:00", "Z"),
        metrics=Metrics(vibration=0.01, power_usage=1500.0, noise_floor=-98.5, rfi_level=-107.25),
    )


def prod_settings(bootstrap: str, topic: str) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=bootstrap, topic=topic, profile="prod")


@dataclass
class SteadyPublisher:
    """The project's Publisher (prod profile) fed ``rate`` packets/s on a thread of its own."""

    settings: KafkaSettings
    rate: float = 600.0
    extra_config: Mapping[str, Any] | None = None
    published: list[int] = field(default_factory=list)
    accepted: int = 0
    longest_publish_s: float = 0.0
    """The longest single ``publish()`` call: how long backpressure held the caller."""
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self.publisher = Publisher(self.settings, extra_config=self.extra_config)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = time.monotonic()

    def start(self) -> SteadyPublisher:
        self._thread = threading.Thread(target=self._run, name="steady-publisher", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        n = 0
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                due = started + n / self.rate
                now = time.monotonic()
                if due > now:
                    time.sleep(min(due - now, 0.05))
                    continue
                begin = time.monotonic()
                ok = self.publisher.publish(packet(n))
                self.longest_publish_s = max(self.longest_publish_s, time.monotonic() - begin)
                self.published.append(n)
                self.accepted += ok
                n += 1
        except BaseException as exc:
            self.error = exc

    def abort(self) -> None:
        """Stop at once (after a failure): no waiting out librdkafka's retries."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.publisher.close(1.0)  # a closed publisher returns at once

    def __enter__(self) -> SteadyPublisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.abort()

    def stop(self, flush_timeout: float = 90.0) -> DeliveryReport:
        """Stop publishing, close the publisher (flushing); its delivery report."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
            assert not self._thread.is_alive(), "the publishing thread is stuck"
        report = self.publisher.close(flush_timeout)
        if self.error is not None:
            raise AssertionError(f"publishing failed: {self.error!r}") from self.error
        return report


def read_topic(bootstrap: str, topic: str, timeout: float = 60.0) -> list[tuple[int, int, int]]:
    """Every record of ``topic`` up to its high watermarks: (partition, offset, packet n)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=20).topics[topic]
        ends: dict[int, int] = {}
        for p in meta.partitions:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=20)
            ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        got: list[tuple[int, int, int]] = []
        pos = {p: 0 for p in ends}
        deadline = time.monotonic() + timeout
        while any(pos[p] < ends[p] for p in ends):
            assert time.monotonic() < deadline, (
                f"read {len(got)} records of {topic}; {pos} < {ends}"
            )
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            _, ts = msg.timestamp()
            got.append((msg.partition(), msg.offset(), ts - BASE_MS))
            pos[msg.partition()] = msg.offset() + 1
        return got
    finally:
        consumer.close()


def assert_each_once(records: list[tuple[int, int, int]], published: list[int]) -> None:
    """The topic holds every published packet exactly once and nothing else."""
    counts = Counter(n for _, _, n in records)
    dupes = sorted(n for n, c in counts.items() if c > 1)
    assert not dupes, f"{len(dupes)} packets in the topic more than once (first {dupes[:10]})"
    missing = sorted(set(published) - set(counts))
    assert not missing, f"{len(missing)} delivered packets not in the topic (first {missing[:10]})"
    extra = sorted(set(counts) - set(published))
    assert not extra, f"{len(extra)} records nobody published (first {extra[:10]})"


def isr_of(bootstrap: str, topic: str) -> dict[int, tuple[int | None, list[int], list[int]]]:
    """{partition: (leader, replicas, isr)} from the cluster's own metadata."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000, "log_level": 0})
    meta = admin.list_topics(topic, timeout=10).topics[topic]
    return {
        p: (
            pm.leader if pm.leader >= 0 else None,
            sorted(pm.replicas),
            sorted(pm.isrs),
        )
        for p, pm in meta.partitions.items()
    }


def time_until(probe: Any, timeout: float, step: float = 0.1) -> float | None:
    """Seconds until ``probe()`` is truthy, or None after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if probe():
                return time.monotonic() - start
        except Exception:
            pass
        time.sleep(step)
    return None


def start_nodes(cluster: LocalKafkaCluster, node_ids: list[int], timeout: float = 90.0) -> float:
    """Start several stopped nodes at once (their JVM start-ups overlap); seconds until all
    are registered. Spawned from this thread: a node dies with the thread that started it."""
    begin = time.monotonic()
    for node_id in node_ids:
        cluster._spawn(node_id)
    cluster.wait_ready(node_ids, timeout=timeout)
    took = time.monotonic() - begin
    for node_id in node_ids:  # ready means serving, not a registration left by the dead JVM
        assert answers_alone(cluster, node_id), f"node {node_id} 'ready' but not answering"
    return took


def answers_alone(cluster: LocalKafkaCluster, node_id: int) -> bool:
    """A client that knows only this node's address gets metadata from it within 2 s."""
    admin = AdminClient(
        {
            "bootstrap.servers": f"{cluster.host}:{cluster.spec(node_id).port}",
            "socket.timeout.ms": 2000,
            "log_level": 0,
        }
    )
    try:
        admin.list_topics(timeout=2.0)
    except KafkaException:
        return False
    return True


FIGURES = (
    Path(os.environ.get("HORIZONS_TEST_OUTPUT", ROOT / "test-output")) / "cluster-faults.jsonl"
)


def note(test: str, **figures: Any) -> None:
    """Append the figures a fault test measured to test-output/cluster-faults.jsonl."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    rounded = {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}
    with FIGURES.open("a") as out:
        out.write(json.dumps({"test": test, **rounded}) + "\n")
    print(test, rounded)


def coordinated_group(bootstrap: str, topic: str) -> tuple[str, int]:
    """A new consumer group with an offset committed on ``topic`` [0] (so lag polls ask its
    coordinator for it), and the node coordinating it."""
    name = f"faults-coordinated-{uuid.uuid4().hex[:8]}"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": name, "log_level": 0})
    try:
        for attempt in range(100):  # a fresh cluster is still loading __consumer_offsets
            try:
                consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
                break
            except KafkaException:
                if attempt == 99:
                    raise
                time.sleep(0.3)
    finally:
        consumer.close()
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    [future] = admin.describe_consumer_groups([name], request_timeout=10).values()
    return name, int(future.result(15).coordinator.id)
