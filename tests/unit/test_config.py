"""Settings from the environment and the librdkafka dicts made from them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_client_config_maps_every_security_setting_given_and_only_those(tmp_path: Path) -> None:
    pem = {name: tmp_path / f"{name}.pem" for name in ("ca", "c", "k")}
    for path in pem.values():
        path.write_text("-----BEGIN CERTIFICATE-----\n")
    mtls = KafkaSettings(
        bootstrap_servers="b:9093", security_protocol="SSL", ssl_ca_location=str(pem["ca"]),
        ssl_certificate_location=str(pem["c"]), ssl_key_location=str(pem["k"]),
        ssl_key_password=Secret("kp"), ssl_verify_hostname=False,
    )  # fmt: skip
    conf = mtls.client_config()
    assert {k: v for k, v in conf.items() if k.startswith(("ssl", "sasl"))} == {
        "ssl.ca.location": str(pem["ca"]),
        "ssl.certificate.location": str(pem["c"]),
        "ssl.key.location": str(pem["k"]),
        "ssl.key.password": "kp",
        "ssl.endpoint.identification.algorithm": "none",
    }
    oauth = KafkaSettings(
        bootstrap_servers="b:9093", security_protocol="SASL_SSL", sasl_mechanism="OAUTHBEARER",
        oauthbearer_token_endpoint_url="https://idp/token", oauthbearer_client_id="array",
        oauthbearer_client_secret=Secret("s3"),
    )  # fmt: skip
    conf = oauth.client_config()
    assert {k: v for k, v in conf.items() if k.startswith(("ssl", "sasl"))} == {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.token.endpoint.url": "https://idp/token",
        "sasl.oauthbearer.client.id": "array",
        "sasl.oauthbearer.client.secret": "s3",
        "ssl.endpoint.identification.algorithm": "https",
    }
    plain = KafkaSettings(bootstrap_servers="b:9092").client_config()
    assert not [k for k in plain if k.startswith(("ssl", "sasl"))]


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


def test_lower_case_mechanism_is_the_upper_case_one() -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "b:9093",
        "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "KAFKA_SASL_MECHANISM": "scram-sha-256",
        "KAFKA_SASL_USERNAME": "array",
        "KAFKA_SASL_PASSWORD": "hunter2",
    }
    conf = KafkaSettings.from_env(env).client_config()
    assert (conf["security.protocol"], conf["sasl.mechanism"]) == ("SASL_SSL", "SCRAM-SHA-256")
    direct = KafkaSettings(
        bootstrap_servers="b:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="scram-sha-512",
        sasl_username="a",
        sasl_password=Secret("p"),
    )
    assert direct.sasl_mechanism == "SCRAM-SHA-512"


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL"])
def test_sasl_credentials_without_sasl_are_an_error(protocol: str) -> None:
    env = {
        "KAFKA_SECURITY_PROTOCOL": protocol,
        "KAFKA_SASL_USERNAME": "array",
        "KAFKA_SASL_PASSWORD": "hunter2",
    }
    with pytest.raises(ConfigError) as info:
        KafkaSettings.from_env(env)
    message = str(info.value)
    assert "KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD set" in message
    assert f"KAFKA_SECURITY_PROTOCOL={protocol} does not use SASL" in message
    assert "hunter2" not in message
    with pytest.raises(ConfigError, match="KAFKA_SASL_MECHANISM set"):
        KafkaSettings.from_env({"KAFKA_SASL_MECHANISM": "PLAIN"})


def test_missing_ca_file_is_one_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "ca.pem"
    with pytest.raises(ConfigError, match=r"KAFKA_SSL_CA_LOCATION=.*ca\.pem.*no such file"):
        KafkaSettings.from_env(
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_LOCATION": str(missing)}
        )
    missing.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = KafkaSettings.from_env(
        {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_LOCATION": str(missing)}
    )
    assert settings.ssl_ca_location == str(missing)


def test_every_client_config_routes_librdkafka_log_and_errors() -> None:
    conf = KafkaSettings(bootstrap_servers="b:9092").client_config()
    assert callable(conf["error_cb"])
    assert conf["logger"].logger.name == "cosmic_horizons.librdkafka"


def test_missing_ca_file_through_the_cli_is_one_line_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cosmic_horizons", "check", "-b", "127.0.0.1:1"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")},
            "KAFKA_SECURITY_PROTOCOL": "SSL",
            "KAFKA_SSL_CA_LOCATION": str(tmp_path / "nope.pem"),
        },
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "KAFKA_SSL_CA_LOCATION" in lines[0] and "Traceback" not in lines[0]
