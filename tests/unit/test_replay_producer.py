"""`archive replay` publishes with an idempotent producer: retries keep record-time order."""

from __future__ import annotations

from confluent_kafka import Producer

from cosmic_horizons.cli.archive_read import REPLAY_PRODUCER
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.publisher import producer_config


def test_replay_producer_is_idempotent_on_the_dev_profile_and_librdkafka_accepts_it() -> None:
    conf = producer_config(KafkaSettings(bootstrap_servers="127.0.0.1:1"))
    conf.update(REPLAY_PRODUCER)
    assert conf["enable.idempotence"] is True
    assert conf["acks"] == "all"
    Producer(conf).flush(0)  # a conflicting acks/idempotence pair would raise here
