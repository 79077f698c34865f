"""`horizons topics ensure --partitions`, `topics delete` and `topics alter --config` against
a real broker; the effect read back by an independent admin client."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
from typer.testing import CliRunner

from cosmic_horizons.archiver.storage import ArchiveStorage
from cosmic_horizons.cli import confirm
from cosmic_horizons.cli.main import app
from cosmic_horizons.config import KafkaSettings
from tests.broker.test_archiver import packet_records, produce, run_to_end
from tests.engines import only_kafka, only_tansu
from tests.helpers import create_topic

runner = CliRunner()


def horizons(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def topics(bootstrap: str) -> dict[str, int]:
    """Topic -> partition count, from a client of the test's own."""
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return {name: len(t.partitions) for name, t in metadata.topics.items()}


def configs(bootstrap: str, topic: str) -> dict[str, str | None]:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    entries = admin.describe_configs([resource])[resource].result(10)
    return {k: e.value for k, e in entries.items()}


# -- ensure --partitions -----------------------------------------------------------------


def test_ensure_partitions_never_fewer_than_the_profile(bootstrap: str, topic_name: str) -> None:
    code, out, err = horizons("topics", "ensure", "--profile", "prod", "--partitions", "2",
                              "-t", topic_name, "-b", bootstrap)  # fmt: skip
    assert (code, out) == (2, "")
    assert "--partitions 2: the prod profile needs at least 3" in err
    assert topic_name not in topics(bootstrap)

    code, out, err = horizons("topics", "ensure", "--partitions", "4", "-t", topic_name,
                              "-b", bootstrap)  # fmt: skip
    assert code == 0, err
    assert f"{topic_name}: created, in sync" in out
    assert topics(bootstrap)[topic_name] == 4


def test_ensure_more_partitions_on_a_smaller_topic_says_how_to_grow_it(
    bootstrap: str, topic_name: str
) -> None:
    create_topic(bootstrap, topic_name, partitions=1)
    horizons("topics", "ensure", "--fix", "-t", topic_name, "-b", bootstrap)  # configs in sync
    code, out, _ = horizons("topics", "ensure", "--partitions", "3", "--json", "-t", topic_name,
                            "-b", bootstrap)  # fmt: skip
    assert code == 1
    [result] = json.loads(out)
    assert result["grow"].startswith(
        f"grow it with: horizons topics ensure --topic {topic_name} --partitions 3 --fix"
    )
    assert topics(bootstrap)[topic_name] == 1  # without --fix nothing changed


def test_ensure_takes_more_partitions_than_asked_as_in_sync(
    bootstrap: str, topic_name: str
) -> None:
    create_topic(bootstrap, topic_name, partitions=3)  # dev asks for 1
    code, out, err = horizons("topics", "ensure", "--fix", "-t", topic_name, "-b", bootstrap)
    assert code == 0, err
    # In sync (Tansu: after fixing the configs); the 3 partitions are fine.
    assert f"{topic_name}: fixed, in sync" in out or f"{topic_name}: in sync" in out
    code, out, _ = horizons("topics", "ensure", "--partitions", "2", "-t", topic_name,
                            "-b", bootstrap)  # fmt: skip
    assert (code, f"{topic_name}: in sync" in out) == (0, True)
    assert topics(bootstrap)[topic_name] == 3


@only_kafka("Tansu lacks CreatePartitions")
def test_ensure_partitions_fix_grows_the_topic(bootstrap: str, topic_name: str) -> None:
    create_topic(bootstrap, topic_name, partitions=1)
    code, out, err = horizons("topics", "ensure", "--partitions", "3", "--fix", "-t", topic_name,
                              "-b", bootstrap)  # fmt: skip
    assert code == 0, err
    assert "partitions 1 -> 3 (CreatePartitions)" in out
    assert topics(bootstrap)[topic_name] == 3


# -- delete ------------------------------------------------------------------------------


def test_delete_refuses_unarchived_data_then_forces(
    bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    create_topic(bootstrap, topic_name, partitions=1)
    produce(bootstrap, topic_name, packet_records(5))
    archive = ["--storage", tmp_path.as_uri(), "-b", bootstrap]
    code, _, err = horizons("topics", "delete", topic_name, "--yes", *archive)
    assert code == 5
    # (Kafka: 5 records, 0-4; Tansu's high watermark counts its last batch as one record.)
    assert "record(s) not in the archive" in err and "(0: offsets 0-" in err
    assert "--force" in err and "nothing was changed" in err
    assert topic_name in topics(bootstrap)

    # --force still asks: without a terminal and without --yes nothing happens.
    code, _, err = horizons("topics", "delete", topic_name, "--force", *archive)
    assert code == 5 and "refusing without --yes" in err
    assert topic_name in topics(bootstrap)

    code, out, err = horizons("topics", "delete", topic_name, "--force", "--yes", *archive)
    assert code == 0, err
    assert "will be lost" in err and f"deleted topic {topic_name}" in out
    assert topic_name not in topics(bootstrap)


def test_delete_of_an_archived_topic_asks_and_deletes(
    settings: KafkaSettings,
    bootstrap: str,
    topic_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create_topic(bootstrap, topic_name, partitions=1)
    produce(bootstrap, topic_name, packet_records(20))
    storage = ArchiveStorage(tmp_path.as_uri())
    assert run_to_end(settings, storage).rows == 20
    monkeypatch.setattr(confirm, "interactive", lambda: True)
    args = ["topics", "delete", topic_name, "--storage", storage.url, "-b", bootstrap]
    code, _, err = horizons(*args, stdin="n\n")
    assert code == 5 and "not confirmed; nothing was changed" in err
    assert topic_name in topics(bootstrap)
    code, out, err = horizons(*args, stdin="y\n")
    assert code == 0, err
    assert f"deleted topic {topic_name}" in out
    assert topic_name not in topics(bootstrap)


def test_delete_of_a_missing_topic_exits_1(bootstrap: str, topic_name: str) -> None:
    code, _, err = horizons("topics", "delete", topic_name, "--yes", "-b", bootstrap)
    assert code == 1 and "does not exist" in err


# -- alter --config ----------------------------------------------------------------------


def test_alter_any_config_with_dry_run(bootstrap: str, topic_name: str) -> None:
    horizons("topics", "ensure", "-t", topic_name, "-b", bootstrap)
    before = configs(bootstrap, topic_name)
    args = ["topics", "alter", topic_name, "--config", "max.message.bytes=2097152",
            "--config", "segment.ms=7d", "-b", bootstrap]  # fmt: skip
    code, out, err = horizons(*args, "--dry-run")
    assert code == 0, err
    old = before.get("max.message.bytes") or "(not set)"  # Tansu reports only what was set
    assert f"{topic_name}: max.message.bytes {old} -> 2097152 (dry run)" in out
    assert "segment.ms" in out and "-> 604800000 (1w) (dry run)" in out
    assert "nothing was changed" in err
    assert configs(bootstrap, topic_name) == before  # the dry run changed nothing

    code, out, err = horizons(*args, "--json")
    assert code == 0, err
    changes = {c["key"]: c for c in json.loads(out)["changes"]}
    assert changes["max.message.bytes"]["after"] == "2097152"
    after = configs(bootstrap, topic_name)
    assert (after["max.message.bytes"], after["segment.ms"]) == ("2097152", "604800000")


@only_kafka("Tansu accepts any topic config key and value")
def test_alter_refused_by_the_broker_is_exit_2_and_changes_nothing(
    bootstrap: str, topic_name: str
) -> None:
    from tests.cluster import kafka_tools as kt

    horizons("topics", "ensure", "-t", topic_name, "-b", bootstrap)
    for bad in ("no.such.config=1", "cleanup.policy=shred"):
        code, out, err = horizons("topics", "alter", topic_name, "--config", bad, "--config",
                                  "max.message.bytes=2097152", "-b", bootstrap)  # fmt: skip
        assert (code, out) == (2, ""), err
        assert "the broker refused the change" in err
    # Kafka's own kafka-configs as the referee: nothing of the refused request was applied.
    assert kt.topic_configs(bootstrap, topic_name)["max.message.bytes"] != "2097152"


def test_alter_config_that_deletes_data_asks(bootstrap: str, topic_name: str) -> None:
    horizons("topics", "ensure", "-t", topic_name, "-b", bootstrap)
    producer = Producer({"bootstrap.servers": bootstrap})
    for _ in range(4):
        producer.produce(topic_name, os.urandom(1000), partition=0)  # incompressible
    assert producer.flush(10) == 0  # over 1KB: Kafka's size, or Tansu's unknown one, asks
    code, _, err = horizons("topics", "alter", topic_name, "--config", "retention.bytes=1KB",
                            "-b", bootstrap)  # fmt: skip
    assert code == 5 and "nothing was changed" in err
    assert configs(bootstrap, topic_name)["retention.bytes"] == "107374182400"
    # The dry run warns and changes nothing, asking nothing.
    code, out, err = horizons("topics", "alter", topic_name, "--config", "retention.bytes=1KB",
                              "--dry-run", "-b", bootstrap)  # fmt: skip
    assert code == 0 and "warning" in err and "-> 1000 (dry run)" in out
    assert configs(bootstrap, topic_name)["retention.bytes"] == "107374182400"


@only_tansu("Kafka refuses unknown keys (test above)")
def test_alter_unknown_key_on_tansu_is_stored(bootstrap: str, topic_name: str) -> None:
    horizons("topics", "ensure", "-t", topic_name, "-b", bootstrap)
    code, _, err = horizons("topics", "alter", topic_name, "--config", "max.message.bytes=2097152",
                            "-b", bootstrap)  # fmt: skip
    assert code == 0, err
    assert configs(bootstrap, topic_name)["max.message.bytes"] == "2097152"
