"""`horizons doctor` on three nodes: the prod layout passes, min.insync.replicas equal to the
replication factor warns, and a killed node fails the brokers check (it still holds replicas)
with the partitions it held under-replicated. The node is back before the test ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from cosmic_horizons.cli.exits import Exit
from cosmic_horizons.kafka_local import LocalKafkaCluster
from tests.cluster.faults import create_topic, horizons_json, isr_of, prod_topic, time_until
from tests.cluster.faults import unique_name as unique


def doctor(bootstrap: str, topic: str, state: Path) -> tuple[int, dict[str, Any]]:
    return horizons_json(
        "doctor", "-b", bootstrap, "-t", topic, "--profile", "prod", "--brokers", "3",
        "--state", str(state), "--lag-interval", "1s", "--timeout", "3s",
    )  # fmt: skip


def results(doc: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [r for r in doc["results"] if r["check"] == check]


def test_doctor_on_three_nodes_warns_on_min_insync_and_fails_on_a_killed_node(
    all_nodes_up: LocalKafkaCluster, tmp_path: Path
) -> None:
    cluster, bootstrap = all_nodes_up, all_nodes_up.bootstrap
    topic, tight = unique("doctor"), unique("doctor-rf2")
    prod_topic(bootstrap, topic)
    create_topic(bootstrap, tight, 1, 2, {"min.insync.replicas": "2"})
    # The doctor judges the replication of its own topic (and its dead-letter topic).
    code, doc = doctor(bootstrap, tight, tmp_path / "tight.json")
    assert [r["level"] for r in results(doc, "brokers")] == ["OK"], doc
    [listeners] = results(doc, "listeners")
    assert listeners["level"] == "OK" and listeners["message"].count(":") == 4, listeners
    [warn] = [r for r in results(doc, "replication") if tight in r["message"]]
    assert warn["level"] == "WARN", warn
    assert "min.insync.replicas=2 with replication factor 2" in warn["message"]
    assert not [r for r in results(doc, "replication") if r["level"] == "FAIL"], doc
    assert code == Exit.PROBLEM, doc  # warnings only

    victim = next(n for n in cluster.node_ids if n != cluster.leader_of(topic, 0))
    cluster.kill(victim)
    shrunk = time_until(
        lambda: all(victim not in isr for _, _, isr in isr_of(bootstrap, topic).values()), 30
    )
    assert shrunk is not None, "the ISRs still hold the killed node after 30 s"
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    gone = time_until(lambda: len(admin.list_topics(timeout=2).brokers) == 2, 30)
    assert gone is not None, "the killed node is still registered after 30 s"
    code, doc = doctor(bootstrap, topic, tmp_path / "state.json")
    assert code == Exit.UNHEALTHY, doc
    fails = [r["message"] for r in results(doc, "brokers") if r["level"] == "FAIL"]
    assert f"broker(s) {victim} hold replicas but are not registered" in " ".join(fails), doc
    assert "2 broker(s) registered, 3 expected" in " ".join(fails), doc
    found = {r["level"]: r["message"] for r in results(doc, "replication") if topic in r["message"]}
    assert "0,1,2 under-replicated" in found["WARN"], found
    assert "replication factor 3 on 2 broker(s)" in found["FAIL"], found
    print(f"killed node: ISR shrank after {shrunk:.1f} s, unregistered {gone:.1f} s later")
