"""Scaling the cluster up and down: a fourth broker joins and takes its share while a
publisher publishes and an archiver archives, then is drained and stopped; and the brokers'
JMX exporter. Kafka only (as this folder): Tansu is one node and has no reassignment.

One module-scoped cluster of its own (3 KRaft nodes with the exporter, a 4th broker added):
the tests run in order on it (scale up, metrics, drain, a node killed), ~2 minutes in all.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.cli.main import app
from cosmic_horizons.kafka_local import LocalKafkaCluster
from cosmic_horizons.publisher import Publisher
from cosmic_horizons.scaling import leader_counts, replica_counts
from cosmic_horizons.scaling.execute import throttled_topics
from cosmic_horizons.scaling.exporter import BrokerMetricsReader
from tests.broker.test_archiver import _archiver_cmd, _spawn, assert_exactly_once, read_archive
from tests.cluster.conftest import CLUSTER_TEST_OVERRIDES, OUTPUT
from tests.cluster.faults import (
    BASE_MS,
    SteadyPublisher,
    note,
    packet,
    prod_settings,
    prod_topic,
    time_until,
    unique_name,
)
from tests.cluster.kafka_tools import reassign_verify
from tests.helpers import consume_all

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "kafka-metrics.yaml"
CONTROLLER_ONLY = {
    "kafka_controller_active_controller_count",
    "kafka_controller_offline_partitions",
}
PER_TOPIC = {"kafka_server_topic_bytes_in_total", "kafka_server_topic_bytes_out_total"}


@pytest.fixture(scope="module")
def grown() -> Iterator[LocalKafkaCluster]:
    """Three prod-profile nodes with the JMX exporter; the first test adds node 4."""
    data = OUTPUT / "kafka-rebalance"
    shutil.rmtree(data, ignore_errors=True)
    cluster = LocalKafkaCluster(
        data, 3, profile="prod", overrides=CLUSTER_TEST_OVERRIDES, jmx_exporter=True
    )
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


class Ran:
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = code, stdout, stderr


def horizons(*args: str, timeout: float = 0.0) -> Ran:
    """``horizons ARGS`` in this process (a new Python per command costs seconds here);
    ``timeout`` is the command's own (--timeout)."""
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def layout(bootstrap: str) -> dict[tuple[str, int], tuple[list[int], list[int], int]]:
    """{(topic, partition): (replicas, isr, leader)} of every topic."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    meta = admin.list_topics(timeout=10)
    return {
        (name, pid): (list(p.replicas), list(p.isrs), p.leader)
        for name, t in meta.topics.items()
        for pid, p in t.partitions.items()
    }


def scrape(url: str) -> dict[str, float]:
    """{sample name with labels: value} of one exporter endpoint (Prometheus text parser)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def names(samples: dict[str, float]) -> set[str]:
    return {k.split("{")[0] for k in samples}


def rule_names() -> set[str]:
    return {r["name"] for r in yaml.safe_load(RULES.read_text())["rules"]}


def archiver_cmd(bootstrap: str, topic: str, archive: Path, *extra: str) -> list[str]:
    """The archiver of the broker tests, with files of 1000 records (it keeps up)."""
    cmd = _archiver_cmd(bootstrap, topic, archive, *extra)
    cmd[cmd.index("--max-records") + 1] = "1000"
    return cmd


def under_replicated(cluster: LocalKafkaCluster, nodes: list[int]) -> float:
    return sum(
        scrape(cluster.metrics_url(n)).get("kafka_server_under_replicated_partitions", 0.0)
        for n in nodes
    )


@pytest.mark.timeout(240)
def test_a_fourth_broker_takes_its_share_while_publishing_and_archiving(
    grown: LocalKafkaCluster, tmp_path: Path
) -> None:
    cluster, bootstrap = grown, grown.bootstrap
    topic = unique_name("rebalance")
    prod_topic(bootstrap, topic)
    assert time_until(lambda: len([k for k in layout(bootstrap) if k[0] == topic]) == 3, 30)
    with Publisher(prod_settings(bootstrap, topic)) as pub:  # data in it before node 4
        assert pub.publish_many([packet(n) for n in range(1_000_000, 1_002_000)]) == 2000
        assert pub.flush(60) == 0
    archive = tmp_path / "archive"
    log = tmp_path / "archiver.log"
    archiver = _spawn(archiver_cmd(bootstrap, topic, archive), log)
    publisher = SteadyPublisher(prod_settings(bootstrap, topic), rate=100).start()
    try:
        started = time.monotonic()
        cluster.add_node()
        added_s = time.monotonic() - started
        print(f"node 4 added in {added_s:.1f} s", flush=True)
        everyone = ",".join(f"{cluster.host}:{n.port}" for n in cluster.nodes)
        plan_file = tmp_path / "plan.json"
        proc = horizons("cluster", "rebalance", "--plan", "--plan-file", str(plan_file),
                        "-b", everyone, timeout=60)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        plan = json.loads(plan_file.read_text())
        assert any(4 in e["replicas"] for e in plan["partitions"]), plan
        begin = time.monotonic()
        proc = horizons("cluster", "rebalance", "--execute", "--plan-file", str(plan_file),
                        "--throttle", "20MB/s", "--timeout", "90s", "--json", "-b", everyone,
                        timeout=120)  # fmt: skip
        rebalance_s = time.monotonic() - begin
        print(f"rebalance executed in {rebalance_s:.1f} s", flush=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        result = json.loads(proc.stdout)
        assert result["completed"] and result["throttle_removed"], result
    finally:
        report = publisher.stop()
    assert report.failed == 0, report
    archiver.send_signal(signal.SIGTERM)
    assert archiver.wait(60) == 0, log.read_text()[-3000:]
    finisher = _spawn(archiver_cmd(bootstrap, topic, archive, "--flush-at-end", "--stop-at-end"),
                      log)  # fmt: skip
    assert finisher.wait(90) == 0, log.read_text()[-3000:]

    # Kafka's own tool agrees that every partition of the plan is where it says.
    states = reassign_verify(bootstrap, str(plan_file))
    assert set(states.values()) == {"completed"}, states
    assert len(states) == len(plan["partitions"])

    # Every broker within one of the even share, for the topic and for the whole cluster;
    # the new broker leads partitions; every replica in sync.
    now = layout(everyone)
    ids = [1, 2, 3, 4]
    mine = [r for (t, _), (r, _, _) in now.items() if t == topic]
    for assignment in (mine, [r for r, _, _ in now.values()]):
        counts = replica_counts(assignment, ids)
        share = sum(counts.values()) / len(ids)
        assert all(abs(c - share) < 1 for c in counts.values()), counts
    leaders = [leader for _, _, leader in now.values()]
    assert leaders.count(4) >= 1, leader_counts([r for r, _, _ in now.values()], ids)
    assert all(sorted(r) == sorted(isr) for r, isr, _ in now.values())

    # No record lost or duplicated: the topic holds each published packet once, and the
    # archive holds each record of the topic once.
    expected = {
        (m.partition(), m.offset()): (m.key(), m.value())
        for m in consume_all(bootstrap, topic, 2000 + len(publisher.published))
    }
    published = set(range(1_000_000, 1_002_000)) | set(publisher.published)
    _, rows = read_archive(ArchiveStorage(archive.as_uri()), topic)
    archived = [r.kafka_timestamp_ms - BASE_MS for r in rows]
    assert len(archived) == len(set(archived)) and set(archived) == published
    assert_exactly_once(ArchiveStorage(archive.as_uri()), topic, expected)
    note("rebalance_scale_up", add_node_s=added_s, rebalance_s=rebalance_s,
         partitions_moved=len(plan["partitions"]), records=len(published),
         moved_bytes=result["moved_bytes"])  # fmt: skip


@pytest.mark.timeout(120)
def test_a_throttled_reassignment_shows_progress_and_cancels(grown: LocalKafkaCluster) -> None:
    if len(grown.nodes) < 4:
        pytest.skip("needs the fourth broker the scale-up test adds")
    everyone = ",".join(f"{grown.host}:{n.port}" for n in grown.nodes)
    # 3 MB per partition, all led by broker 4: more than one fetch (1 MB) can copy at once.
    topic = unique_name("cancel")
    admin = AdminClient({"bootstrap.servers": everyone, "log_level": 0})
    new = NewTopic(topic, 3, replica_assignment=[[4, 1], [4, 2], [4, 3]])
    admin.create_topics([new], operation_timeout=20)[topic].result(30)
    assert time_until(lambda: len([k for k in layout(everyone) if k[0] == topic]) == 3, 30)
    producer = Producer({"bootstrap.servers": everyone, "acks": "all", "linger.ms": 20})
    for i in range(90):
        producer.produce(topic, b"x" * 100_000, partition=i % 3)
        producer.poll(0)
    assert producer.flush(60) == 0
    before = {k: v[0] for k, v in layout(everyone).items() if k[0] == topic}
    # Off broker 4 onto brokers 1-3, at 1 KB/s: it cannot finish while we look.
    args = ["--topic", topic, "--brokers", "1,2,3", "--throttle", "1KB/s", "--json"]
    proc = horizons("cluster", "rebalance", "--execute", "--no-wait", *args, "-b", everyone)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["submitted"] >= 1
    status = horizons("cluster", "rebalance", "--status", "--json", "-b", everyone)
    assert status.returncode == 0, status.stderr
    moving = json.loads(status.stdout)["reassignments"]
    assert moving and all(r["topic"] == topic and r["adding"] for r in moving), moving
    throttled = throttled_topics(admin, [topic], 10)
    assert throttled == [topic]
    cancelled = horizons("cluster", "rebalance", "--cancel", "--json", "-b", everyone)
    assert cancelled.returncode == 0, cancelled.stderr
    # What was still moving at --cancel: on a loaded machine a partition may finish between
    # the two calls (its first fetches can outrun the throttle's first window).
    names = {f"{r['topic']}[{r['partition']}]": (r["topic"], r["partition"]) for r in moving}
    stopped = json.loads(cancelled.stdout)["cancelled"]
    assert stopped and set(stopped) <= set(names), (stopped, moving)

    def replicas_now() -> dict[tuple[str, int], list[int]]:
        return {k: sorted(v[0]) for k, v in layout(everyone).items() if k[0] == topic}

    # The partitions still copying at --cancel go back to their replicas (one that finished
    # first keeps its new ones).
    was = {names[name] for name in stopped}
    back = {k: sorted(v) for k, v in before.items() if k in was}
    took = time_until(lambda: {k: v for k, v in replicas_now().items() if k in was} == back, 30)
    assert took is not None, f"after --cancel {replicas_now()}, before {back}"
    assert not json.loads(horizons("cluster", "status", "--json", "-b", everyone).stdout)[
        "reassignments"
    ]
    assert throttled_topics(admin, [topic], 10) == []


def test_every_node_exports_the_configured_metrics(grown: LocalKafkaCluster) -> None:
    wanted = rule_names()
    # Per-topic bytes in/out exist once a topic had traffic: this test makes its own (it once
    # relied on the traffic of the test before it, and failed whenever that one had).
    topic = f"test.metrics.{time.monotonic_ns()}"
    admin = AdminClient({"bootstrap.servers": grown.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 3)], operation_timeout=20)[topic].result(30)
    producer = Producer({"bootstrap.servers": grown.bootstrap, "acks": "all"})
    for i in range(200):
        producer.produce(topic, b"x" * 100, b"k%d" % i)
    assert producer.flush(30) == 0
    consume_all(grown.bootstrap, topic, 200)
    seen_topic: set[str] = set()
    deadline = time.monotonic() + 30
    while True:
        seen_topic = set()
        for node in grown.nodes:
            got = names(scrape(grown.metrics_url(node.node_id)))
            required = wanted - PER_TOPIC - (set() if node.voter else CONTROLLER_ONLY)
            assert required <= got, f"node {node.node_id} misses {sorted(required - got)}"
            seen_topic |= got & PER_TOPIC
        if seen_topic == PER_TOPIC or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert seen_topic == PER_TOPIC, "no broker exported bytes in/out per topic"
    active = [
        scrape(grown.metrics_url(n.node_id))["kafka_controller_active_controller_count"]
        for n in grown.nodes
        if n.voter
    ]
    assert sorted(active) == [0.0, 0.0, 1.0], active
    # What the dashboard reads from them (HORIZONS_BROKER_METRICS).
    urls = tuple(grown.metrics_url(n.node_id) for n in grown.nodes)
    report = BrokerMetricsReader(urls).report()
    assert all(b.up for b in report.brokers) and report.under_replicated == 0, report
    assert sum(b.bytes_in_total or 0 for b in report.brokers) > 0


@pytest.mark.timeout(120)
def test_drain_one_of_four_then_stop_it(grown: LocalKafkaCluster) -> None:
    if len(grown.nodes) < 4:
        pytest.skip("needs the fourth broker the scale-up test adds")
    everyone = ",".join(f"{grown.host}:{n.port}" for n in grown.nodes)
    begin = time.monotonic()
    proc = horizons("cluster", "drain", "4", "--json", "--timeout", "60s", "-b", everyone,
                    timeout=90)  # fmt: skip
    drain_s = time.monotonic() - begin
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["completed"]
    assert all(4 not in r for r, _, _ in layout(everyone).values())
    grown.stop_node(4)
    bootstrap = grown.bootstrap.rsplit(",", 1)[0]  # the three voters
    after = layout(bootstrap)
    lagging = {k: v for k, v in after.items() if sorted(v[0]) != sorted(v[1])}
    assert not lagging, f"under-replicated after the drain: {lagging}"
    assert under_replicated(grown, [1, 2, 3]) == 0
    # With three brokers left, draining one more cannot keep replication factor 3.
    refused = horizons("cluster", "drain", "1", "-b", bootstrap, timeout=60)
    assert refused.returncode == 5, refused.stdout + refused.stderr
    assert "has replication factor 3, but only 2 broker(s)" in refused.stderr
    note("rebalance_drain", drain_s=drain_s)


@pytest.mark.timeout(90)
def test_under_replicated_metric_rises_when_a_node_is_killed(grown: LocalKafkaCluster) -> None:
    survivors = [1, 2]
    assert under_replicated(grown, survivors) == 0
    grown.kill(3)
    took = time_until(lambda: under_replicated(grown, survivors) > 0, 45, step=0.5)
    assert took is not None, "kafka_server_under_replicated_partitions stayed 0 after a kill"
    note("rebalance_urp_metric", seconds_to_rise=took, value=under_replicated(grown, survivors))


@pytest.mark.timeout(90)
def test_doctor_reads_the_exporters_of_a_cluster_with_a_node_down(
    grown: LocalKafkaCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if grown.running(3):
        pytest.skip("needs node 3 killed by the test above")
    urls = {n.node_id: grown.metrics_url(n.node_id) for n in grown.nodes}
    monkeypatch.setenv("HORIZONS_BROKER_METRICS", ",".join(urls.values()))
    begin = time.monotonic()
    ran = horizons("doctor", "-b", grown.bootstrap, "--state", str(tmp_path / "doctor.json"),
                   "--lag-interval", "1s", "--json")  # fmt: skip
    doc = json.loads(ran.stdout)
    found = {(r["check"], r["level"]): r["message"] for r in doc["results"]}
    down = [r["message"] for r in doc["results"] if r["check"] == "exporters"]
    assert all(r["level"] == "WARN" for r in doc["results"] if r["check"] == "exporters")
    # Node 3 was killed, node 4 stopped after its drain: their exporters do not answer.
    dead = [n for n, url in urls.items() if any(m.startswith(url) for m in down)]
    assert dead == [n for n in urls if not grown.running(n)], down
    assert "under-replicated partition(s) they lead" in found[("replication", "WARN")]
    assert ("handlers", "SKIP") not in found, doc
    assert ran.returncode == 7, doc  # node 3 down: its broker unregistered or unreachable
    note("rebalance_doctor_exporters", doctor_s=time.monotonic() - begin)
