"""`horizons groups reset|delete` against a real broker, the effect read by an independent
client (and by Kafka's own kafka-consumer-groups on Kafka)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from typer.testing import CliRunner

from cosmic_horizons.cli.main import app
from tests.engines import only_kafka
from tests.helpers import create_topic, fast_consumer, wait_for

runner = CliRunner()


def horizons(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def committed(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    """The group's committed offsets, read by a client of the test's own."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    tps = result.result(15).topic_partitions or []
    return {(tp.topic, tp.partition): tp.offset for tp in tps if tp.offset >= 0}


@pytest.fixture
def group_on_topic(bootstrap: str, topic_name: str) -> str:
    """A topic of 2 partitions with 10 records each (timed 1 h apart halves), and a group
    that committed offset 5 on both and left."""
    create_topic(bootstrap, topic_name, partitions=2)
    producer = Producer({"bootstrap.servers": bootstrap})
    now = int(time.time() * 1000)
    for p in (0, 1):
        for i in range(10):
            stamp = now - 3_600_000 if i < 5 else now  # offsets 0-4 an hour old
            producer.produce(topic_name, b"{}", partition=p, timestamp=stamp)
            # One batch each: Tansu's high watermark is its last batch's first offset + 1.
            assert producer.flush(15) == 0
    group = f"test-group-{uuid.uuid4().hex[:8]}"
    consumer = fast_consumer(bootstrap, group)
    consumer.commit(offsets=[TopicPartition(topic_name, p, 5) for p in (0, 1)], asynchronous=False)
    consumer.close()
    return group


def test_reset_dry_run_changes_nothing_execute_moves_offsets(
    bootstrap: str, topic_name: str, group_on_topic: str
) -> None:
    group = group_on_topic
    before = committed(bootstrap, group)
    assert before == {(topic_name, 0): 5, (topic_name, 1): 5}

    code, out, err = horizons("groups", "reset", group, "--to-earliest", "--dry-run", "--json",
                              "-b", bootstrap)  # fmt: skip
    assert code == 0, err
    plan = json.loads(out)
    assert plan["executed"] is False
    assert [(p["partition"], p["current"], p["new"]) for p in plan["partitions"]] == [
        (0, 5, 0),
        (1, 5, 0),
    ]
    assert committed(bootstrap, group) == before  # the dry run changed nothing

    code, out, err = horizons("groups", "reset", group, "--shift", "-2", "--execute",
                              "-b", bootstrap)  # fmt: skip
    assert code == 0, err
    assert "2 offset(s) committed" in out
    assert committed(bootstrap, group) == {(topic_name, 0): 3, (topic_name, 1): 3}

    code, _, err = horizons("groups", "reset", group, "--to-latest", "--execute",
                            "--topic", topic_name, "-b", bootstrap)  # fmt: skip
    assert code == 0, err
    assert committed(bootstrap, group) == {(topic_name, 0): 10, (topic_name, 1): 10}

    # A shift past the end is clamped to the end, as Kafka's tool does.
    code, out, _ = horizons("groups", "reset", group, "--shift", "100", "--dry-run", "--json",
                            "-b", bootstrap)  # fmt: skip
    assert [p["new"] for p in json.loads(out)["partitions"]] == [10, 10]


@only_kafka("Tansu answers ListOffsets by timestamp with the log start, whatever the time")
def test_reset_to_datetime_finds_the_first_record_at_or_after_it(
    bootstrap: str, topic_name: str, group_on_topic: str
) -> None:
    group = group_on_topic
    # Half an hour ago: the first record at or after it is offset 5 of each partition.
    code, _, err = horizons("groups", "reset", group, "--to-datetime", "now-30m", "--execute",
                            "-b", bootstrap)  # fmt: skip
    assert code == 0, err
    assert committed(bootstrap, group) == {(topic_name, 0): 5, (topic_name, 1): 5}
    # Two hours ago: before every record, so the log start.
    code, _, err = horizons("groups", "reset", group, "--to-datetime", "now-2h", "--execute",
                            "-b", bootstrap)  # fmt: skip
    assert code == 0, err
    assert committed(bootstrap, group) == {(topic_name, 0): 0, (topic_name, 1): 0}
    # In the future: no record that late, so the end.
    code, _, err = horizons("groups", "reset", group, "--to-datetime", "now+1h", "--execute",
                            "-b", bootstrap)  # fmt: skip
    assert code == 0, err
    assert committed(bootstrap, group) == {(topic_name, 0): 10, (topic_name, 1): 10}


def test_reset_bad_arguments_exit_2_and_change_nothing(bootstrap: str, group_on_topic: str) -> None:
    group = group_on_topic
    before = committed(bootstrap, group)
    for args in (
        ["--to-earliest"],  # neither --dry-run nor --execute
        ["--to-earliest", "--dry-run", "--execute"],
        ["--dry-run"],  # no target
        ["--to-earliest", "--to-latest", "--execute"],
        ["--to-datetime", "yesterday-ish", "--execute"],
    ):
        code, out, err = horizons("groups", "reset", group, *args, "-b", bootstrap)
        assert (code, out) == (2, ""), (args, err)
    assert committed(bootstrap, group) == before


def test_reset_of_a_group_without_offsets_needs_the_topic(bootstrap: str, topic_name: str) -> None:
    nobody = f"nobody-{uuid.uuid4().hex[:6]}"
    code, _, err = horizons("groups", "reset", nobody, "--to-earliest", "--execute",
                            "-b", bootstrap)  # fmt: skip
    assert code == 1
    assert "no committed offsets" in err and "--topic" in err
    # A shift needs committed offsets to move: with none, nothing is done, and it says so.
    create_topic(bootstrap, topic_name)
    code, _, err = horizons("groups", "reset", nobody, "--shift", "1", "--execute",
                            "--topic", topic_name, "-b", bootstrap)  # fmt: skip
    assert code == 1 and "nothing to reset" in err and "no committed offset to shift" in err
    assert committed(bootstrap, nobody) == {}


def test_delete_asks_then_deletes(bootstrap: str, topic_name: str, group_on_topic: str) -> None:
    group = group_on_topic
    code, _, err = horizons("groups", "delete", group, "-b", bootstrap)
    assert code == 5
    assert "refusing without --yes" in err and "nothing was changed" in err
    assert committed(bootstrap, group) == {(topic_name, 0): 5, (topic_name, 1): 5}

    code, out, err = horizons("groups", "delete", group, "--yes", "-b", bootstrap)
    assert code == 0, err
    assert f"deleted group {group}" in out
    assert committed(bootstrap, group) == {}
    code, _, err = horizons("groups", "delete", group, "--yes", "-b", bootstrap)
    assert code == 1 and f"group {group} does not exist" in err


@only_kafka("Tansu reports no members of a consumer group, so none can be live")
def test_reset_and_delete_refused_while_the_group_has_live_members(
    bootstrap: str, topic_name: str, group_on_topic: str
) -> None:
    from tests.cluster import kafka_tools as kt

    group = group_on_topic
    member = fast_consumer(bootstrap, group)
    member.subscribe([topic_name])
    try:
        wait_for(lambda: member.poll(0.2) is None and member.assignment(), "assignment", 60)
        code, _, err = horizons("groups", "reset", group, "--to-earliest", "--execute",
                                "-b", bootstrap)  # fmt: skip
        assert code == 5
        assert "live member(s)" in err and "nothing was changed" in err
        code, _, err = horizons("groups", "delete", group, "--yes", "-b", bootstrap)
        assert code == 5 and "live member(s)" in err
        # A dry run still shows the plan, with a warning.
        code, _, err = horizons("groups", "reset", group, "--to-earliest", "--dry-run",
                                "-b", bootstrap)  # fmt: skip
        assert code == 0 and "--execute will be refused" in err
    finally:
        member.close()
    rows = kt.consumer_group_describe(bootstrap, group)  # Kafka's own tool as the referee
    assert [(r.partition, r.current_offset) for r in rows] == [(0, 5), (1, 5)]
    code, _, err = horizons("groups", "reset", group, "--to-earliest", "--execute",
                            "-b", bootstrap)  # fmt: skip
    assert code == 0, err
    rows = kt.consumer_group_describe(bootstrap, group)
    assert [(r.partition, r.current_offset) for r in rows] == [(0, 0), (1, 0)]
