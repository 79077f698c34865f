"""A principal missing one ACL: one clear line naming the operation and the resource, exit 4,
nothing written, in seconds (no retry loop). Kafka only (the fixture's reason: Tansu has no
SASL or ACLs).

Each case has its own topic (and, where a group ACL is the one missing, its own group), is
granted its role's plan for them as the admin, minus exactly one binding.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AclBinding, AclBindingFilter, NewTopic

from cosmic_horizons.acls import ARCHIVER_GROUP, Role, acl_plan, bindings, describe
from cosmic_horizons.config import Profile
from cosmic_horizons.packet import encode_packet
from cosmic_horizons.spool import Spool, SpoolSettings
from cosmic_horizons.topics.models import desired_topic, dlq_topic_name
from tests.helpers import commit_retrying, make_packet
from tests.security.conftest import Run, SecureKafka
from tests.security.test_acls import _run_stdin
from tests.security.test_secured_kafka import _one_clear_line, _record_count

pytestmark = pytest.mark.timeout(120)

#: Every case fails well inside this (the commands' own timeouts are tens of seconds).
BOUND_S = 20.0


def _case(
    sk: SecureKafka,
    role: Role,
    missing: str,
    *,
    profile: Profile = "dev",
    group: str = ARCHIVER_GROUP,
    records: int = 0,
) -> str:
    """A new topic (and its dead-letter topic) holding ``records`` packets, and ``role``'s
    ACLs for it except the one :func:`describe` calls ``missing`` (its text, ``{topic}`` and
    ``{group}`` filled in); the topic."""
    topic = f"aclf.{uuid.uuid4().hex[:8]}"
    dlq = dlq_topic_name(topic)
    admin = sk.cluster.admin(10)
    spec = desired_topic("dev", topic)  # one node: the dev layout (one replica)
    topics = [NewTopic(t, spec.partitions, 1, config=dict(spec.configs)) for t in (topic, dlq)]
    for future in admin.create_topics(topics).values():
        future.result(15)
    [plan] = [r for r in acl_plan(topic, profile, archiver_group=group) if r.role == role]
    gone = missing.format(topic=topic, group=group)
    granted: list[AclBinding] = [b for b in bindings([plan]) if describe(b) != gone]
    assert not gone or len(granted) == len(bindings([plan])) - 1, f"{gone} is not in the plan"
    for future in admin.create_acls(granted, request_timeout=10).values():
        future.result(15)
    if records:
        _seed(sk, topic, records)
    return topic


def _seed(sk: SecureKafka, topic: str, count: int) -> None:
    from confluent_kafka import Producer

    conf = sk.settings("admin").client_config("test-seed")
    conf.pop("logger", None)
    producer = Producer(conf)
    for i in range(count):
        producer.produce(topic, encode_packet(make_packet(i)), make_packet(i).element_id)
    assert producer.flush(15) == 0


def _as(sk: SecureKafka, role: Role, topic: str) -> dict[str, str]:
    return sk.env(f"horizons-{role}", HORIZONS_TOPIC=topic)


def _refused(run: Run, started: float, *needles: str) -> str:
    line = _one_clear_line(run, "not authorized", *needles)
    elapsed = time.monotonic() - started
    assert elapsed < BOUND_S, f"took {elapsed:.1f} s: {run.output}"
    print(f"{' '.join(run.args[5:7])}: refused in {elapsed:.1f} s: {line}")
    return line


# -- the publisher -------------------------------------------------------------------------


def test_simulate_without_write(secure_kafka: SecureKafka) -> None:
    topic = _case(secure_kafka, "publisher", "Write on topic {topic}")
    started = time.monotonic()
    run = secure_kafka.horizons(
        "simulate", "--count", "50", "--elements", "5", "--sites", "1",
        env=_as(secure_kafka, "publisher", topic),
    )  # fmt: skip
    _refused(
        run, started, f"Write on topic {topic}", "User:horizons-publisher", "horizons acls check"
    )
    assert "delivered" not in run.stderr
    assert _record_count(secure_kafka, topic) == 0


def test_produce_without_write(secure_kafka: SecureKafka) -> None:
    topic = _case(secure_kafka, "publisher", "Write on topic {topic}")
    data = b"\n".join(encode_packet(make_packet(i)) for i in range(3)).decode()
    started = time.monotonic()
    run = _run_stdin(secure_kafka, ["produce", "-"], _as(secure_kafka, "publisher", topic), data)
    _refused(run, started, f"Write on topic {topic}", "User:horizons-publisher")
    assert _record_count(secure_kafka, topic) == 0


def test_prod_publisher_without_write(secure_kafka: SecureKafka) -> None:
    # prod: idempotent, acks=all. (Kafka 4 no longer asks for IdempotentWrite on the cluster:
    # Write on the topic covers an idempotent producer, so that grant cannot be the one missing.)
    topic = _case(secure_kafka, "publisher", "Write on topic {topic}", profile="prod")
    started = time.monotonic()
    run = secure_kafka.horizons(
        "simulate", "--count", "20", "--elements", "2", "--sites", "1", "--no-ensure",
        "--profile", "prod", env=_as(secure_kafka, "publisher", topic),
    )  # fmt: skip
    _refused(run, started, f"Write on topic {topic}", "User:horizons-publisher")
    assert _record_count(secure_kafka, topic) == 0


def test_spooled_simulate_without_write_spools_nothing(
    secure_kafka: SecureKafka, tmp_path: Path
) -> None:
    topic = _case(secure_kafka, "publisher", "Write on topic {topic}")
    spool = tmp_path / "spool"
    started = time.monotonic()
    run = secure_kafka.horizons(
        "simulate", "--count", "50", "--elements", "5", "--sites", "1", "--spool", str(spool),
        env=_as(secure_kafka, "publisher", topic),
    )  # fmt: skip
    _refused(run, started, f"Write on topic {topic}")
    assert _record_count(secure_kafka, topic) == 0
    # What was spooled before the refusal came back stays (delivered once the ACL is
    # granted); nothing after it was taken: far fewer than the 50 packets of the run.
    spooled = Spool(SpoolSettings(path=spool))
    try:
        print(f"spooled before the refusal: {spooled.records}")
        assert spooled.records < 50
    finally:
        spooled.close()


# -- the archiver --------------------------------------------------------------------------


def _archive(sk: SecureKafka, topic: str, storage: Path, group: str = ARCHIVER_GROUP) -> Run:
    return sk.horizons(
        "archive", "run", "--storage", f"file://{storage}", "--group", group,
        "--flush-at-end", "--stop-at-end", "--workers", "0",
        env=_as(sk, "archiver", topic), timeout=60,
    )  # fmt: skip


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_archiver_without_read_on_topic(secure_kafka: SecureKafka, tmp_path: Path) -> None:
    topic = _case(secure_kafka, "archiver", "Read on topic {topic}", records=5)
    started = time.monotonic()
    run = _archive(secure_kafka, topic, tmp_path / "archive")
    _refused(run, started, f"Read on topic {topic}", "User:horizons-archiver")
    assert _files(tmp_path / "archive") == []


def test_archiver_without_read_on_group(secure_kafka: SecureKafka, tmp_path: Path) -> None:
    group = f"aclf-archiver-{uuid.uuid4().hex[:8]}"
    topic = _case(secure_kafka, "archiver", "Read on group {group}", group=group, records=5)
    started = time.monotonic()
    run = _archive(secure_kafka, topic, tmp_path / "archive", group)
    _refused(run, started, f"Read on group {group}", "User:horizons-archiver")
    assert _files(tmp_path / "archive") == []


# -- consume, monitor, lag -----------------------------------------------------------------


def test_consume_without_read_on_topic(secure_kafka: SecureKafka) -> None:
    topic = _case(secure_kafka, "monitor", "Read on topic {topic}", records=3)
    started = time.monotonic()
    run = secure_kafka.horizons(
        "consume", "--from-beginning", "--timeout", "5s", env=_as(secure_kafka, "monitor", topic)
    )
    _refused(run, started, f"Read on topic {topic}", "User:horizons-monitor")
    assert not [line for line in run.stdout.splitlines() if line.startswith("{")]


@contextlib.contextmanager
def _without_shared(sk: SecureKafka, topic: str, role: Role, gone_text: str) -> Iterator[None]:
    """``role``'s binding ``gone_text`` removed, one the plans of every topic share: it is
    put back afterwards."""
    [plan] = [r for r in acl_plan(topic) if r.role == role]
    [gone] = [b for b in bindings([plan]) if describe(b) == gone_text]
    admin = sk.cluster.admin(10)
    wanted = AclBindingFilter(
        gone.restype, gone.name, gone.resource_pattern_type, gone.principal, gone.host,
        gone.operation, gone.permission_type,
    )  # fmt: skip
    for future in admin.delete_acls([wanted]).values():
        future.result(15)
    try:
        yield
    finally:
        for future in admin.create_acls([gone], request_timeout=10).values():
            future.result(15)


#: A commit answered with these is retried: the group's coordinator is not ready yet.
_COORDINATOR_MOVING = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
}


def _monitored_group(sk: SecureKafka, prefix: str) -> tuple[str, str]:
    """A topic with the monitor's ACLs and 3 packets, and a new group (named from ``prefix``)
    that committed offset 1 on it as the admin."""
    topic = _case(sk, "monitor", "", records=3)
    group = f"{prefix}-{uuid.uuid4().hex[:8]}"
    conf = sk.settings("admin").client_config("test-commit")
    conf.pop("logger", None)
    consumer = Consumer({**conf, "group.id": group, "log_level": 0})
    # a fresh node may not have loaded this group's coordinator yet
    commit_retrying(consumer, [TopicPartition(topic, 0, 1)], 20, _COORDINATOR_MOVING)
    consumer.close()
    return topic, group


def test_lag_of_a_group_without_describe_on_groups(secure_kafka: SecureKafka) -> None:
    topic, group = _monitored_group(secure_kafka, "aclf-lag")
    with _without_shared(secure_kafka, topic, "monitor", "Describe on group *"):
        started = time.monotonic()
        run = secure_kafka.horizons(
            "lag", "--samples", "1", "--group", group, env=_as(secure_kafka, "monitor", topic)
        )
    # named by the call refused (OffsetFetch on group G), not yet by the ACL it lacks
    _refused(run, started, f"on group {group}", "consumer group")


def test_lag_of_every_group_as_a_principal_without_group_rights_says_what_it_cannot_see(
    secure_kafka: SecureKafka,
) -> None:
    _topic, group = _monitored_group(secure_kafka, "aclf-lagall")
    own = _case(secure_kafka, "publisher", "")  # Write and Describe on a topic, no group
    run = secure_kafka.horizons("lag", "--samples", "1", env=_as(secure_kafka, "publisher", own))
    # Without Describe on the cluster, Kafka answers ListGroups with the groups the principal
    # may Describe: for the publisher, none. (With Describe on the cluster but not on a group,
    # the group is listed and its OffsetFetch refused: the test above.)
    assert group not in run.output, run.output
    assert "no consumer groups visible to horizons-publisher" in run.output, run.output
    assert "horizons acls check" in run.output
    assert run.code == 0  # no group may be a fresh cluster too: said, not failed


def test_consume_without_read_on_group(secure_kafka: SecureKafka) -> None:
    # consume --group as the archiver (whose plan has Read on its one group)
    group = f"aclf-consume-{uuid.uuid4().hex[:8]}"
    topic = _case(secure_kafka, "archiver", "Read on group {group}", group=group, records=3)
    started = time.monotonic()
    run = secure_kafka.horizons(
        "consume", "--group", group, "--from-beginning", "--timeout", "5s",
        env=_as(secure_kafka, "archiver", topic),
    )  # fmt: skip
    _refused(run, started, f"Read on group {group}", "User:horizons-archiver")
    assert not [line for line in run.stdout.splitlines() if line.startswith("{")]


def test_a_refused_idempotent_producer_names_idempotent_write() -> None:
    # Kafka before 2.8 asks an idempotent producer for IdempotentWrite on the cluster (Kafka 4
    # does not, so no broker here can refuse it): the refusal's code alone names it.
    from confluent_kafka import KafkaError

    from cosmic_horizons.config import KafkaSettings, Secret
    from cosmic_horizons.publisher.watch import ProducerWatch

    settings = KafkaSettings(
        bootstrap_servers="127.0.0.1:1",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="pub",
        sasl_password=Secret("x"),
    )
    watch = ProducerWatch(settings, "t", acks_all=True)
    assert not watch.note_refused(KafkaError(KafkaError._MSG_TIMED_OUT))
    assert watch.note_refused(KafkaError(KafkaError.CLUSTER_AUTHORIZATION_FAILED))
    assert watch.note_refused(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    assert str(watch.refused) == (
        "not authorized: IdempotentWrite on the cluster for User:pub (check: horizons acls check)"
    )
