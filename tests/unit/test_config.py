"""Settings from the environment and the librdkafka dicts made from them."""

from __future__ import annotations

import pytest

from cosmic_horizons.config import KafkaSettings, Secret, mask_config
from cosmic_horizons.errors import ConfigError
from cosmic_horizons.publisher import producer_config


def test_nothing_configured_means_no_bootstrap() -> None:
    settings = KafkaSettings.from_env({})
    assert settings.bootstrap_servers is None
    assert (settings.profile, settings.topic) == ("dev", "element.raw_data")
    with pytest.raises(ConfigError, match="--bootstrap"):
        settings.client_config()


def test_spec_host_and_port() -> None:
    settings = KafkaSettings.from_env({"KAFKA_HOST": "kafka", "KAFKA_PORT": "29092"})
    assert settings.bootstrap_servers == "kafka:29092"
    assert KafkaSettings.from_env({"KAFKA_HOST": "kafka"}).bootstrap_servers == "kafka:9092"


def test_full_bootstrap_list_wins_over_host_port() -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": "b1:9092, b2:9093", "KAFKA_HOST": "kafka"}
    assert KafkaSettings.from_env(env).bootstrap_servers == "b1:9092,b2:9093"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KAFKA_BOOTSTRAP_SERVERS": "kafka"}, "KAFKA_BOOTSTRAP_SERVERS: 'kafka' is not host:port"),
        ({"KAFKA_HOST": "kafka", "KAFKA_PORT": "http"}, "KAFKA_HOST/KAFKA_PORT: port 'http'"),
        ({"KAFKA_PORT": "9092"}, "KAFKA_PORT is set but KAFKA_HOST is not"),
        ({"HORIZONS_PROFILE": "staging"}, "HORIZONS_PROFILE='staging'"),
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL='TLS'"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs KAFKA_SASL_USERNAME"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        KafkaSettings.from_env(env)
    assert message in str(info.value)


def test_command_line_overrides_environment() -> None:
    settings = KafkaSettings.from_env({"KAFKA_HOST": "kafka"}).with_overrides(
        bootstrap="localhost:19092", topic="t", profile="prod"
    )
    assert (settings.bootstrap_servers, settings.topic, settings.profile) == (
        "localhost:19092",
        "t",
        "prod",
    )


def test_password_never_shows() -> None:
    settings = KafkaSettings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "b:9093",
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "array",
            "KAFKA_SASL_PASSWORD": "hunter2",
        }
    )
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings)
    conf = settings.client_config()
    assert conf["sasl.password"] == "hunter2"
    assert mask_config(conf)["sasl.password"] == "********"
    assert str(Secret("x")) == "********"


def test_producer_config_maps_the_spec() -> None:
    dev = producer_config(KafkaSettings(bootstrap_servers="b:9092"))
    assert dev["client.id"] == "cosmic-horizons-array-element"
    assert dev["partitioner"] == "murmur2_random"
    assert dev["compression.type"] == "snappy"
    assert (dev["retries"], dev["retry.backoff.ms"]) == (10, 1000)
    assert "enable.idempotence" not in dev
    prod = producer_config(KafkaSettings(bootstrap_servers="b:9092", profile="prod"))
    assert prod["enable.idempotence"] is True and prod["acks"] == "all"


def test_producer_queue_is_bounded() -> None:
    conf = producer_config(KafkaSettings(bootstrap_servers="b:9092"), queue_max_messages=50)
    assert conf["queue.buffering.max.messages"] == 50
    assert int(conf["queue.buffering.max.kbytes"]) > 0
