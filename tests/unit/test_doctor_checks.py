"""Every doctor check over fabricated cluster states: one test per WARN and FAIL it can give,
and the healthy state that passes them all."""

from __future__ import annotations

import dataclasses

import msgspec

from cosmic_horizons.doctor import run_checks, worst_level
from cosmic_horizons.doctor.checks_cluster import (
    check_auto_create,
    check_brokers,
    check_controller,
    check_listeners,
    check_replication,
    check_topic,
)
from cosmic_horizons.doctor.checks_data import (
    check_archive,
    check_clock,
    check_disk,
    check_dlq,
    check_headroom,
    check_lag,
    headroom_ms,
)
from cosmic_horizons.doctor.state import (
    Broker,
    CheckResult,
    ClockSample,
    ClusterState,
    GroupPartition,
    GroupState,
    Offsets,
)
from cosmic_horizons.topics import PartitionPlacement, TopicState, desired_topic
from cosmic_horizons.topics.usage import DiskUsage, LogDirUsage, ReplicaUsage

NOW = 1_800_000_000_000
DAY = 86_400_000
TOPIC = "element.raw_data"
SPEC = desired_topic("prod", TOPIC)


def prod_topic(name: str = TOPIC, **changes: object) -> TopicState:
    parts = tuple(
        PartitionPlacement(id=i, leader=i + 1, replicas=(1, 2, 3), isr=(1, 2, 3)) for i in range(3)
    )
    topic = TopicState(name=name, partitions=parts, configs=dict(SPEC.configs))
    return msgspec.structs.replace(topic, **changes)


def healthy(**changes: object) -> ClusterState:
    state = ClusterState(
        bootstrap="k1:9092",
        topic=TOPIC,
        desired=SPEC,
        now_ms=NOW,
        brokers=tuple(Broker(i, f"k{i}", 9092, probed=True) for i in (1, 2, 3)),
        controller_id=1,
        topics={TOPIC: prod_topic()},
        offsets={(TOPIC, p): Offsets(0, 1000, NOW - DAY) for p in range(3)},
        broker_configs={"auto.create.topics.enable": "false"},
        groups=(
            GroupState(
                "archiver", "OK", "caught up", 0, 0.0,
                tuple(GroupPartition(TOPIC, p, 1000) for p in range(3)),
            ),
        ),
        usage=DiskUsage(
            tuple(ReplicaUsage(TOPIC, p, b, "/data", 10**6) for p in range(3) for b in (1, 2, 3)),
            tuple(LogDirUsage(b, "/data", None, 500 * 2**30, 400 * 2**30) for b in (1, 2, 3)),
        ),
        clock=(ClockSample(0, NOW - 1000, NOW - 1100),),
        dlq_records=0,
        previous_dlq_records=0,
        archive=(12, ()),
    )  # fmt: skip
    return dataclasses.replace(state, **changes)  # type: ignore[arg-type]


def levels(results: list[CheckResult]) -> list[str]:
    return [r.level for r in results]


def only(results: list[CheckResult], level: str) -> CheckResult:
    [found] = [r for r in results if r.level == level]
    assert found.fix, f"a {level} must say what fixes it: {found}"
    return found


def test_a_healthy_cluster_passes_every_check() -> None:
    results = run_checks(healthy())
    assert worst_level(r.level for r in results) == "OK", [r for r in results if r.level != "OK"]
    assert {r.check for r in results} >= {
        "connect", "brokers", "controller", "listeners", "topic", "auto-create", "replication",
        "lag", "headroom", "disk", "clock", "dlq", "archive",
    }  # fmt: skip


def test_unreachable_is_one_fail_naming_the_bootstrap() -> None:
    results = run_checks(healthy(error="broker unreachable (_TRANSPORT)"))
    assert levels(results) == ["FAIL"]
    assert "k1:9092 did not answer" in results[0].message
    assert "horizons check" in (results[0].fix or "")


def test_a_broker_holding_replicas_but_not_registered_fails() -> None:
    state = healthy(brokers=tuple(Broker(i, f"k{i}", 9092) for i in (1, 2)))
    assert "broker(s) 3 hold replicas" in only(check_brokers(state), "FAIL").message


def test_fewer_brokers_than_expected_fails() -> None:
    assert (
        "3 broker(s) registered, 4 expected"
        in only(check_brokers(healthy(expected_brokers=4)), "FAIL").message
    )


def test_no_controller_fails() -> None:
    assert (
        "no active controller"
        in only(check_controller(healthy(controller_id=None)), "FAIL").message
    )


def test_an_advertised_address_this_host_cannot_reach_fails() -> None:
    brokers = (
        Broker(1, "k1", 9092, probed=True),
        Broker(2, "kafka", 29092, connect_error="name does not resolve", probed=True),
    )
    fail = only(check_listeners(healthy(brokers=brokers)), "FAIL")
    assert "broker 2 advertises kafka:29092" in fail.message
    assert "advertised.listeners" in (fail.fix or "")


def test_missing_topic_fails_and_drift_warns() -> None:
    assert "horizons topics ensure" in (only(check_topic(healthy(topics={})), "FAIL").fix or "")
    drifted = prod_topic(configs={**SPEC.configs, "retention.ms": "1000"})
    warn = only(check_topic(healthy(topics={TOPIC: drifted})), "WARN")
    assert "retention.ms: 1000, desired 604800000" in warn.message
    assert warn.fix == f"horizons topics ensure -t {TOPIC} --fix"


def test_auto_create_on_warns() -> None:
    warn = only(
        check_auto_create(healthy(broker_configs={"auto.create.topics.enable": "true"})), "WARN"
    )
    assert "mistyped topic" in warn.message


def test_min_insync_equal_to_rf_warns_one_failure_stops_writes() -> None:
    rf2 = tuple(PartitionPlacement(id=0, leader=1, replicas=(1, 2), isr=(1, 2)) for _ in range(1))
    topic = prod_topic(partitions=rf2, configs={"min.insync.replicas": "2"})
    warn = only(check_replication(healthy(topics={TOPIC: topic})), "WARN")
    assert "min.insync.replicas=2 with replication factor 2" in warn.message


def test_min_insync_above_rf_fails() -> None:
    topic = prod_topic(configs={"min.insync.replicas": "4"})
    assert (
        "every acks=all write fails"
        in only(check_replication(healthy(topics={TOPIC: topic})), "FAIL").message
    )


def test_rf_above_broker_count_fails() -> None:
    state = healthy(brokers=(Broker(1, "k1", 9092), Broker(2, "k2", 9092)))
    assert "replication factor 3 on 2 broker(s)" in only(check_replication(state), "FAIL").message


def test_under_replicated_warns_and_offline_fails() -> None:
    under = (PartitionPlacement(id=0, leader=1, replicas=(1, 2, 3), isr=(1, 2)),)
    warn = only(check_replication(healthy(topics={TOPIC: prod_topic(partitions=under)})), "WARN")
    assert "partition(s) 0 under-replicated" in warn.message
    offline = (PartitionPlacement(id=0, leader=None, replicas=(1, 2, 3), isr=()),)
    fail = only(check_replication(healthy(topics={TOPIC: prod_topic(partitions=offline)})), "FAIL")
    assert "offline (no leader)" in fail.message


def test_lag_levels_follow_burrow() -> None:
    def group(status: str) -> ClusterState:
        return healthy(groups=(GroupState("archiver", status, "rule", 500, 42.0),))  # type: ignore[arg-type]

    assert levels(check_lag(group("WARN"))) == ["WARN"]
    assert levels(check_lag(group("UNKNOWN"))) == ["WARN"]
    for bad in ("STOP", "STALL", "REWIND", "ERR"):
        fail = only(check_lag(group(bad)), "FAIL")
        assert "42.0 s behind" in fail.message
        assert "horizons lag --group archiver" in (fail.fix or "")


def test_headroom_is_the_time_until_the_oldest_unread_record_is_deleted() -> None:
    # Written 6 days ago, 7-day retention: gone in a day.
    assert headroom_ms(NOW - 6 * DAY, 7 * DAY, NOW) == DAY
    lagging = GroupState(
        "archiver", "WARN", "r", 10, 5.0, (GroupPartition(TOPIC, 0, 500, unread_ms=NOW - 6 * DAY),)
    )
    warn = only(check_headroom(healthy(groups=(lagging,))), "WARN")
    assert "deleted in 1.0 d" in warn.message and f"{TOPIC}[0]" in warn.message
    fresh = dataclasses.replace(lagging, partitions=(GroupPartition(TOPIC, 0, 500, NOW - DAY),))
    assert levels(check_headroom(healthy(groups=(fresh,)))) == ["OK"]


def test_records_deleted_before_the_group_read_them_fail() -> None:
    offsets = {(TOPIC, 0): Offsets(earliest=800, latest=1000)}
    behind = GroupState("archiver", "WARN", "r", 700, None, (GroupPartition(TOPIC, 0, 300),))
    fail = only(check_headroom(healthy(groups=(behind,), offsets=offsets)), "FAIL")
    assert "500 record(s) of element.raw_data[0] deleted by retention" in fail.message


def test_disk_nearly_full_warns_then_fails_and_reports_growth() -> None:
    def disk(free: int) -> ClusterState:
        usage = DiskUsage(
            (ReplicaUsage(TOPIC, 0, 1, "/d", 10**9),), (LogDirUsage(1, "/d", None, 100, free),)
        )
        return healthy(usage=usage, previous_usage=(NOW - 10_000, 10**9 - 10 * 2**20))

    assert levels(check_disk(disk(15))) == ["WARN", "OK"]
    assert levels(check_disk(disk(4))) == ["FAIL", "OK"]
    assert "+1.0 MiB/s since the last check" in check_disk(disk(50))[-1].message
    broken = DiskUsage((), (LogDirUsage(2, "/d", "KafkaStorageError"),))
    assert "KafkaStorageError" in only(check_disk(healthy(usage=broken)), "FAIL").message
    assert levels(check_disk(healthy(usage=None, usage_error="not supported"))) == ["SKIP"]


def test_clock_skew_warns() -> None:
    ahead = healthy(clock=(ClockSample(0, NOW + 60_000, NOW + 60_000),))
    assert "60.0 s ahead of this host" in only(check_clock(ahead), "WARN").message
    off = healthy(clock=(ClockSample(0, NOW - 1000, NOW - 3_600_000),))
    assert "packet timestamps up to 3599.0 s" in only(check_clock(off), "WARN").message


def test_dead_letters_growing_warn() -> None:
    warn = only(check_dlq(healthy(dlq_records=7, previous_dlq_records=4)), "WARN")
    assert "+3 dead letter(s) since the last check" in warn.message
    assert levels(check_dlq(healthy(dlq_records=7, previous_dlq_records=7))) == ["OK"]
    assert levels(check_dlq(healthy(dlq_records=2, previous_dlq_records=None))) == ["WARN"]


def test_archive_problems_warn_and_an_unreachable_archive_fails() -> None:
    warn = only(check_archive(healthy(archive=(3, ("gap in partition 0: 10-19",)))), "WARN")
    assert "gap in partition 0" in warn.message
    assert levels(check_archive(healthy(archive=None, archive_error="bucket missing"))) == ["FAIL"]


def test_disk_says_what_the_archive_already_holds() -> None:
    [line] = [r for r in check_disk(healthy(archive_trim=(600, 1000))) if "archive" in r.message]
    assert "holds 600 of the 1000 record(s)" in line.message
    assert f"horizons topics trim {TOPIC} --archived" in line.message
    skipped = check_disk(healthy(usage=None, usage_error="no API", archive_trim=(0, 10)))
    assert [r.level for r in skipped] == ["SKIP", "OK"]


def test_tight_headroom_of_the_archiver_fails_and_disk_names_the_retention_limits() -> None:
    archiver = GroupState(
        "cosmic-horizons-archiver", "WARN", "r", 10, 5.0,
        (GroupPartition(TOPIC, 0, 500, unread_ms=NOW - 6 * DAY),),
    )  # fmt: skip
    fail = only(check_headroom(healthy(groups=(archiver,))), "FAIL")
    assert "(the archiver)" in fail.message
    [total] = [r for r in check_disk(healthy()) if "on disk" in r.message]
    assert "retention.ms 1w" in total.message and "retention.bytes 1.0 TiB" in total.message
