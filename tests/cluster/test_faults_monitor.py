"""``horizons monitor`` and the HTTP API on three nodes: a killed node shows as
under-replicated partitions and shrunk ISRs (exit 1), a partition whose only replica is
gone has no leader (exit 2), all recover after the restart (exit 0); latestOffset is exact."""

from __future__ import annotations

import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cosmic_horizons.api import start_api
from cosmic_horizons.cli.exits import Exit
from cosmic_horizons.kafka_local import LocalKafkaCluster
from cosmic_horizons.publisher import Publisher
from tests.cluster.faults import (
    coordinated_group,
    create_topic,
    horizons,
    horizons_json,
    isr_of,
    note,
    packet,
    prod_settings,
    prod_topic,
    start_nodes,
    time_until,
    unique_name,
)


def monitor(bootstrap: str, topic: str) -> tuple[int, dict[str, Any]]:
    code, snap = horizons_json("monitor", "-b", bootstrap, "-t", topic, "--timeout", "3")
    return code, snap


def metric(client: httpx.Client, name: str, **labels: str) -> float | None:
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def api_view(client: httpx.Client, topic: str) -> tuple[float | None, Any]:
    """(/metrics under-replicated gauge, /api/messaging/snapshot) as the API serves them."""
    under = metric(client, "horizons_kafka_under_replicated_partitions", topic=topic)
    return under, client.get("/api/messaging/snapshot").json()


def isr_shown(snap: dict[str, Any]) -> dict[int, tuple[int | None, list[int], list[int]]]:
    return {p["partition"]: (p["leader"], sorted(p["replicas"]), sorted(p["isr"]))
            for p in snap["partitionDetails"]}  # fmt: skip


def test_killed_node_degrades_leaderless_partition_is_unhealthy_then_all_recover(
    all_nodes_up: LocalKafkaCluster,
) -> None:
    cluster, bootstrap = all_nodes_up, all_nodes_up.bootstrap
    topic, single = unique_name("monitor"), unique_name("monitor-rf1")
    prod_topic(bootstrap, topic)
    # The victim coordinates a group with committed offsets: the API's lag polls keep asking
    # for it while the node is down (librdkafka aborted the whole process on such a poll:
    # see Monitor._group_client). It also holds the only replica of `single`.
    group, victim = coordinated_group(bootstrap, topic)
    create_topic(bootstrap, single, on=[victim])
    assert time_until(lambda: cluster.leader_of(single, 0) == victim, 20) is not None
    assert monitor(bootstrap, topic)[0] == 0

    api = start_api(prod_settings(bootstrap, topic), port=0, poll_interval=0.5)
    try:
        with httpx.Client(base_url=api.url, timeout=10.0) as client:
            assert time_until(lambda: api_view(client, topic)[0] == 0, 30) is not None

            cluster.kill(victim)
            shrunk = time_until(
                lambda: all(victim not in isr for _, _, isr in isr_of(bootstrap, topic).values()),
                30,
            )
            assert shrunk is not None, "the ISRs still hold the killed node after 30 s"
            code, snap = monitor(bootstrap, topic)
            assert code == 1, snap
            assert snap["underReplicatedPartitions"] == 3
            assert all(p["underReplicated"] for p in snap["partitionDetails"])
            assert isr_shown(snap) == isr_of(bootstrap, topic)  # what the cluster says
            for leader, replicas, isr in isr_shown(snap).values():
                assert leader != victim and victim in replicas and victim not in isr
                assert len(isr) == 2

            # describe agrees with the cluster's metadata on the shrunk ISRs too.
            code, state = horizons_json("topics", "describe", topic, "-b", bootstrap)
            assert code == 0
            assert state["under_replicated"] == [0, 1, 2]
            shown = {p["id"]: (p["leader"], sorted(p["replicas"]), sorted(p["isr"]))
                     for p in state["partitions"]}  # fmt: skip
            assert shown == isr_of(bootstrap, topic)

            # The API says the same: /metrics and the snapshot endpoint.
            seen = time_until(lambda: api_view(client, topic)[0] == 3, 20)
            assert seen is not None, f"/metrics: not 3 under-replicated: {api_view(client, topic)}"
            under, api_snap = api_view(client, topic)
            assert under == 3
            assert api_snap["underReplicatedPartitions"] == 3
            assert isr_shown(api_snap) == isr_shown(snap)

            # The RF-1 topic's only replica is gone: no leader, unhealthy.
            leaderless = time_until(lambda: monitor(bootstrap, single)[0] == Exit.UNHEALTHY, 30)
            assert leaderless is not None, monitor(bootstrap, single)
            code, lone = monitor(bootstrap, single)
            assert code == Exit.UNHEALTHY and lone["partitionDetails"][0]["leader"] is None, lone

            # The API survives the coordinator's death and still answers for the group.
            lag = client.get("/api/messaging/lag")
            assert lag.status_code in (200, 503), lag.text
            lag_code = horizons("lag", "-b", bootstrap, "--samples", "1", "--timeout", "3")
            codes = {int(e) for e in Exit}
            assert lag_code.returncode in codes, lag_code.stderr[-2000:]  # not a crash

            restart = start_nodes(cluster, [victim])
            healed = time_until(lambda: monitor(bootstrap, topic)[0] == 0, 60)
            assert healed is not None, monitor(bootstrap, topic)
            code, snap = monitor(bootstrap, topic)
            assert snap["underReplicatedPartitions"] == 0
            assert all(isr == [1, 2, 3] for _, _, isr in isr_shown(snap).values())
            assert monitor(bootstrap, single)[0] == 0
            api_healed = time_until(lambda: api_view(client, topic)[0] == 0, 20)
            assert api_healed is not None, api_view(client, topic)
            assert api_view(client, topic)[1]["underReplicatedPartitions"] == 0
            recovered = time_until(lambda: group in client.get("/api/messaging/lag").text, 30)
            assert recovered is not None, client.get("/api/messaging/lag").text
    finally:
        api.close()
    note(
        "monitor_kill", isr_shrunk_after_kill_s=shrunk, leaderless_seen_after_s=leaderless,
        restart_s=restart, healthy_after_restart_s=healed,
    )  # fmt: skip


def test_latest_offset_is_exact_after_batched_produce(cluster_bootstrap: str) -> None:
    bootstrap = cluster_bootstrap
    topic = unique_name("latest")
    prod_topic(bootstrap, topic)
    records = 10_000
    # Long linger and big batches: each produce request carries hundreds of records.
    batched = {"linger.ms": 100, "batch.num.messages": 10_000, "batch.size": 4_000_000}
    started = time.monotonic()
    with Publisher(prod_settings(bootstrap, topic), extra_config=batched) as pub:
        assert pub.publish_many([packet(n) for n in range(records)]) == records
        assert pub.flush(60) == 0
        report = pub.close()
    produced_s = time.monotonic() - started
    assert (report.delivered, report.failed) == (records, 0)
    code, snap = monitor(bootstrap, topic)
    assert code == 0, snap
    assert snap["latestOffset"] == records
    assert sum(p["latestOffset"] for p in snap["partitionDetails"]) == records
    assert all(p["earliestOffset"] == 0 for p in snap["partitionDetails"])
    note("latest_offset", records=records, produce_s=produced_s,
         per_partition=[p["latestOffset"] for p in snap["partitionDetails"]])  # fmt: skip
