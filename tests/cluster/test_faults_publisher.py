"""The Publisher (prod profile: acks=all, idempotence) while nodes crash, hang and vanish.

As Kafka's own replication tests do it: publish at a steady rate, inject the fault in the
middle, then read the whole topic back and compare sets. Every packet the publisher counts
as delivered must be there exactly once; ``sent == delivered + failed``.
"""

from __future__ import annotations

import logging
import time

import pytest

from cosmic_horizons.kafka_local import LocalKafkaCluster
from tests.cluster.faults import (
    SteadyPublisher,
    assert_each_once,
    isr_of,
    note,
    prod_settings,
    prod_topic,
    read_topic,
    start_nodes,
    time_until,
    unique_name,
)

RATE = 600.0  # packets per second
PUBLISH_S = 16.0


def finish(steady: SteadyPublisher, bootstrap: str, topic: str) -> tuple[int, int]:
    """Publish until PUBLISH_S, close, and check the topic against what was delivered."""
    time.sleep(max(0.0, steady.started + PUBLISH_S - time.monotonic()))
    report = steady.stop()
    assert report.sent == len(steady.published)
    assert report.sent == report.delivered + report.failed
    assert report.failed == 0, steady.publisher.snapshot().failures_by_reason
    assert report.undelivered_at_close == 0
    records = read_topic(bootstrap, topic)
    assert len(records) == report.delivered
    assert_each_once(records, steady.published)
    return report.sent, len(records)


def fully_replicated(bootstrap: str, topic: str) -> bool:
    return all(len(isr) == 3 for _, _, isr in isr_of(bootstrap, topic).values())


def test_leader_sigkill_and_restart_lose_and_duplicate_nothing(
    all_nodes_up: LocalKafkaCluster,
) -> None:
    cluster, bootstrap = all_nodes_up, all_nodes_up.bootstrap
    topic = unique_name("leader-kill")
    prod_topic(bootstrap, topic)
    with SteadyPublisher(prod_settings(bootstrap, topic), rate=RATE) as steady:
        time.sleep(3)
        victim = cluster.leader_of(topic, 0)
        assert victim is not None
        cluster.kill(victim)
        failover = time_until(lambda: cluster.leader_of(topic, 0) not in (None, victim), 30)
        assert failover is not None, f"partition 0 kept no leader but {victim} for 30 s"
        restart = start_nodes(cluster, [victim])
        rejoined = time_until(lambda: fully_replicated(bootstrap, topic), 30)
        sent, read = finish(steady, bootstrap, topic)
        note(
            "leader_sigkill", sent=sent, read=read, failover_s=failover, restart_s=restart,
            isr_rejoined_after_restart_s=rejoined, stalls=steady.publisher.stalls,
            last_error=steady.publisher.snapshot().last_error,
        )  # fmt: skip
        assert rejoined is not None, "the restarted node did not rejoin every ISR within 30 s"


def test_node_paused_past_its_session_loses_and_duplicates_nothing(
    all_nodes_up: LocalKafkaCluster,
) -> None:
    cluster, bootstrap = all_nodes_up, all_nodes_up.bootstrap
    topic = unique_name("pause")
    prod_topic(bootstrap, topic)
    with SteadyPublisher(prod_settings(bootstrap, topic), rate=RATE) as steady:
        time.sleep(3)
        victim = cluster.leader_of(topic, 1)
        assert victim is not None
        others = [n for n in cluster.node_ids if n != victim]
        # Ask the running nodes only: a paused node accepts connections and answers nothing.
        awake = ",".join(f"{cluster.host}:{cluster.spec(n).port}" for n in others)
        paused_at = time.monotonic()
        cluster.pause(victim)
        try:
            # broker.session.timeout.ms is 6 s: the controller fences it, leadership moves.
            moved = time_until(lambda: isr_of(awake, topic)[1][0] in others, 30)
            time.sleep(max(0.0, paused_at + 8.0 - time.monotonic()))
            while_paused = isr_of(awake, topic)
        finally:
            cluster.resume(victim)
        paused = time.monotonic() - paused_at
        assert moved is not None, f"partition 1 stayed on paused node {victim}"
        assert 3.0 < moved < paused, f"leader moved {moved:.1f} s into a {paused:.1f} s pause"
        assert all(victim not in isr for _, _, isr in while_paused.values()), while_paused
        rejoined = time_until(lambda: fully_replicated(bootstrap, topic), 30)
        sent, read = finish(steady, bootstrap, topic)
        note(
            "pause_past_session", sent=sent, read=read, paused_s=paused,
            leader_moved_after_s=moved, isr_rejoined_after_resume_s=rejoined,
            stalls=steady.publisher.stalls,
        )  # fmt: skip
        assert rejoined is not None, "the resumed node did not rejoin every ISR within 30 s"


def test_two_nodes_down_stalls_reported_backpressure_then_all_delivered(
    all_nodes_up: LocalKafkaCluster, caplog: pytest.LogCaptureFixture
) -> None:
    cluster, bootstrap = all_nodes_up, all_nodes_up.bootstrap
    caplog.set_level(logging.WARNING, logger="cosmic_horizons.publisher")
    topic = unique_name("two-down")
    prod_topic(bootstrap, topic)
    # A small local queue, so backpressure shows within seconds of the stall.
    small_queue = {"queue.buffering.max.messages": 2000}
    with SteadyPublisher(prod_settings(bootstrap, topic), RATE, small_queue) as steady:
        pub = steady.publisher
        time.sleep(3)
        survivor = cluster.node_ids[-1]
        down = [n for n in cluster.node_ids if n != survivor]
        for node in down:  # clean shutdowns: the controller shrinks the ISRs to the survivor
            cluster.stop_node(node)
        stopped_at = time.monotonic()
        try:
            isr = isr_of(bootstrap, topic)
            assert all(i == [survivor] for _, _, i in isr.values()), isr
            reported = time_until(lambda: (pub.snapshot().last_error or "")[:7] == "STALLED", 20)
            assert reported is not None, f"no stall reported: {pub.snapshot()}"
            last_error = pub.snapshot().last_error or ""
            assert "NOT_ENOUGH_REPLICAS" in last_error, last_error
            assert "min.insync.replicas=2" in last_error, last_error
            # Backpressure: the full queue holds publish(), nothing is dropped or failed.
            blocked = time_until(lambda: pub.backpressure_waits > 0, 20)
            assert blocked is not None, f"publish() never waited: {pub.snapshot()}"
            sent_then = len(steady.published)
            time.sleep(1.0)
            assert len(steady.published) <= sent_then + 1, "publish() kept accepting while full"
            snap = pub.snapshot()
            assert snap.failed == 0 and snap.in_flight >= 2000 - 1, snap
        finally:
            restart = start_nodes(cluster, down)
        outage = time.monotonic() - stopped_at
        drained = time_until(lambda: pub.snapshot().in_flight < 100, 60)
        assert drained is not None, f"deliveries did not resume: {pub.snapshot()}"
        sent, read = finish(steady, bootstrap, topic)
        messages = [r.getMessage() for r in caplog.records]
        stall_lines = [m for m in messages if "STALLED" in m]
        # One line per stall, not one per retry: a second stall may follow the first while
        # librdkafka waits out its retry backoff after the nodes are back.
        assert "NOT_ENOUGH_REPLICAS" in stall_lines[0], stall_lines
        assert 1 <= len(stall_lines) == pub.stalls <= 3, stall_lines
        assert sum("deliveries resumed after" in m for m in messages) == pub.stalls
        note(
            "two_nodes_down", sent=sent, read=read, outage_s=outage,
            stall_reported_after_s=reported, restart_two_nodes_s=restart,
            backpressure_waits=pub.backpressure_waits,
            longest_publish_call_s=steady.longest_publish_s, drained_after_restart_s=drained,
            stall_lines=stall_lines, resumed=[m for m in messages if "resumed" in m],
        )  # fmt: skip
