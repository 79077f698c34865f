"""The security settings: read from the environment, passed to librdkafka, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import KafkaError as RdKafkaError

from cosmic_horizons._certs import CertPaths, issue_certificates
from cosmic_horizons.config import KafkaSettings, mask_config
from cosmic_horizons.errors import (
    AuthorizationError,
    ConfigError,
    classify_security,
)

SECRETS = ("sasl-pw-1234", "key-pw-5678", "oauth-secret-9012")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertPaths:
    return issue_certificates(tmp_path_factory.mktemp("certs"), client_key_password=SECRETS[1])


def _env(certs: CertPaths, **extra: str) -> dict[str, str]:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9093",
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "admin",
        "KAFKA_SASL_PASSWORD": SECRETS[0],
        "KAFKA_SSL_CA_LOCATION": str(certs.ca),
        "KAFKA_SSL_CERTIFICATE_LOCATION": str(certs.client_cert),
        "KAFKA_SSL_KEY_LOCATION": str(certs.client_key),
        "KAFKA_SSL_KEY_PASSWORD": SECRETS[1],
    }
    env.update(extra)
    return env


def test_client_certificate_key_and_hostname_check_reach_librdkafka(certs: CertPaths) -> None:
    conf = KafkaSettings.from_env(_env(certs)).client_config()
    assert conf["ssl.certificate.location"] == str(certs.client_cert)
    assert conf["ssl.key.location"] == str(certs.client_key)
    assert conf["ssl.key.password"] == SECRETS[1]
    assert conf["ssl.endpoint.identification.algorithm"] == "https"  # on by default
    off = KafkaSettings.from_env(_env(certs, KAFKA_SSL_VERIFY_HOSTNAME="false")).client_config()
    assert off["ssl.endpoint.identification.algorithm"] == "none"


def test_oauthbearer_uses_the_oidc_client_credentials_method(certs: CertPaths) -> None:
    env = _env(
        certs,
        KAFKA_SASL_MECHANISM="OAUTHBEARER",
        KAFKA_SASL_USERNAME="",
        KAFKA_SASL_PASSWORD="",
        KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL="https://idp.example/token",
        KAFKA_SASL_OAUTHBEARER_CLIENT_ID="horizons",
        KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET=SECRETS[2],
        KAFKA_SASL_OAUTHBEARER_SCOPE="kafka",
    )
    conf = KafkaSettings.from_env(env).client_config()
    assert conf["sasl.oauthbearer.method"] == "oidc"
    assert conf["sasl.oauthbearer.client.secret"] == SECRETS[2]
    assert conf["sasl.oauthbearer.token.endpoint.url"] == "https://idp.example/token"
    with pytest.raises(ConfigError, match="KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET"):
        KafkaSettings.from_env({**env, "KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET": ""})


def test_secrets_are_masked_in_repr_and_logged_config(certs: CertPaths) -> None:
    env = _env(
        certs,
        KAFKA_SASL_MECHANISM="OAUTHBEARER",
        KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL="https://idp.example/token",
        KAFKA_SASL_OAUTHBEARER_CLIENT_ID="horizons",
        KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET=SECRETS[2],
    )
    settings = KafkaSettings.from_env(env)
    shown = repr(settings) + str(settings) + repr(mask_config(settings.client_config()))
    for secret in SECRETS:
        assert secret not in shown
    assert "********" in shown


def test_bad_security_settings_name_the_variable(certs: CertPaths, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KAFKA_SSL_KEY_LOCATION"):
        KafkaSettings.from_env(_env(certs, KAFKA_SSL_KEY_LOCATION=str(tmp_path / "missing.key")))
    with pytest.raises(ConfigError, match="go together"):
        KafkaSettings.from_env(_env(certs, KAFKA_SSL_KEY_LOCATION=""))
    with pytest.raises(ConfigError, match="KAFKA_SSL_VERIFY_HOSTNAME"):
        KafkaSettings.from_env(_env(certs, KAFKA_SSL_VERIFY_HOSTNAME="maybe"))


@pytest.mark.parametrize(
    ("code", "resource"),
    [
        (RdKafkaError.TOPIC_AUTHORIZATION_FAILED, "topic"),
        (RdKafkaError.GROUP_AUTHORIZATION_FAILED, "consumer group"),
        (RdKafkaError.CLUSTER_AUTHORIZATION_FAILED, "cluster"),
    ],
)
def test_missing_acl_is_an_authorization_error(code: int, resource: str) -> None:
    found = classify_security(code, "Broker: Topic authorization failed")
    assert isinstance(found, AuthorizationError)
    message = str(found.at("publishing to t1"))
    assert message.startswith("publishing to t1: not authorized")
    assert f"on the {resource}" in message


def test_certificates_name_loopback_and_keep_keys_private(certs: CertPaths) -> None:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(certs.broker_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    for key in (certs.ca_key, certs.broker_key, certs.client_key):
        assert key.stat().st_mode & 0o077 == 0
    assert b"ENCRYPTED" in certs.client_key.read_bytes()


def test_secure_and_plaintext_data_folders_are_not_mixed(tmp_path: Path) -> None:
    from cosmic_horizons.kafka_local import LocalKafkaCluster

    LocalKafkaCluster(tmp_path / "plain", 1)._save_state()
    with pytest.raises(ConfigError, match="plaintext Kafka cluster: drop --secure"):
        LocalKafkaCluster(tmp_path / "plain", 1, secure=True)
    LocalKafkaCluster(tmp_path / "sec", 1, secure=True)._save_state()
    with pytest.raises(ConfigError, match="secured Kafka cluster: add --secure"):
        LocalKafkaCluster(tmp_path / "sec", 1)


def test_broker_secure_needs_the_kafka_engine() -> None:
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "cosmic_horizons", "broker", "--secure"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "--secure needs --engine kafka" in run.stderr
