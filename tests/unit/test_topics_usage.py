"""topics/usage.py without a broker: the settings mapping, the parsing of DescribeLogDirs
answers, and the translation of kafka-python's errors into the project's tree."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from kafka import errors as kerr

from cosmic_horizons import errors
from cosmic_horizons.config import KafkaSettings, Secret
from cosmic_horizons.topics.usage import (
    kafka_python_config,
    parse_log_dirs,
    translate_kafka_python_error,
)


def test_plaintext_maps_bootstrap_list_and_timeouts() -> None:
    conf = kafka_python_config(KafkaSettings(bootstrap_servers="a:9092,b:9093"), timeout_s=4)
    assert conf == {
        "bootstrap_servers": ["a:9092", "b:9093"],
        "client_id": "cosmic-horizons",
        "security_protocol": "PLAINTEXT",
        "request_timeout_ms": 4000,
        "bootstrap_timeout_ms": 4000,
    }


def test_sasl_ssl_scram_with_mtls_maps_every_option(tmp_path: Path) -> None:
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    settings = KafkaSettings(
        bootstrap_servers="k:9094",
        security_protocol="SASL_SSL",
        sasl_mechanism="scram-sha-512",
        sasl_username="archiver",
        sasl_password=Secret("s3cret"),
        ssl_ca_location=str(tmp_path / "ca.pem"),
        ssl_certificate_location=str(tmp_path / "cert.pem"),
        ssl_key_location=str(tmp_path / "key.pem"),
        ssl_key_password=Secret("keypw"),
        ssl_verify_hostname=False,
    )
    conf = kafka_python_config(settings)
    assert conf["security_protocol"] == "SASL_SSL"
    assert conf["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (conf["sasl_plain_username"], conf["sasl_plain_password"]) == ("archiver", "s3cret")
    assert conf["ssl_cafile"] == str(tmp_path / "ca.pem")
    assert conf["ssl_certfile"] == str(tmp_path / "cert.pem")
    assert conf["ssl_keyfile"] == str(tmp_path / "key.pem")
    assert conf["ssl_password"] == "keypw"
    assert conf["ssl_check_hostname"] is False


def test_the_mapping_is_accepted_by_kafka_python() -> None:
    from kafka.admin import KafkaAdminClient

    conf = kafka_python_config(
        KafkaSettings(
            bootstrap_servers="k:9094",
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-256",
            sasl_username="u",
            sasl_password=Secret("p"),
        )
    )
    assert set(conf) <= set(KafkaAdminClient.DEFAULT_CONFIG)


def test_oauthbearer_is_refused_with_the_reason() -> None:
    settings = KafkaSettings(
        bootstrap_servers="k:9094",
        security_protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER",
        oauthbearer_token_endpoint_url="https://idp/token",
        oauthbearer_client_id="c",
        oauthbearer_client_secret=Secret("s"),
    )
    with pytest.raises(errors.ConfigError, match=r"OAUTHBEARER.*kafka-python"):
        kafka_python_config(settings)


ANSWER = [
    {
        "broker": 2,
        "log_dirs": [
            {
                "error_code": 0,
                "log_dir": "/data/b2",
                "total_bytes": 1000,
                "usable_bytes": 400,
                "topics": [
                    {
                        "name": "raw",
                        "partitions": [
                            {"partition_index": 1, "partition_size": 70, "offset_lag": 0,
                             "is_future_key": False},
                            {"partition_index": 0, "partition_size": 95, "offset_lag": 3,
                             "is_future_key": False},
                        ],
                    }
                ],
            },
            {"error_code": 56, "log_dir": "/data/bad", "topics": []},
        ],
    },
    {
        "broker": 1,
        "log_dirs": [
            {
                "error_code": 0,
                "log_dir": "/data/b1",
                "total_bytes": -1,
                "usable_bytes": -1,
                "topics": [
                    {
                        "name": "raw",
                        "partitions": [
                            {"partition_index": 0, "partition_size": 100, "offset_lag": 0,
                             "is_future_key": False},
                            {"partition_index": 0, "partition_size": 40, "offset_lag": 60,
                             "is_future_key": True},
                        ],
                    },
                    {"name": "raw.dlq", "partitions": [
                        {"partition_index": 0, "partition_size": 5, "offset_lag": 0,
                         "is_future_key": False}]},
                ],
            }
        ],
    },
]  # fmt: skip


def test_parse_sums_per_broker_topic_and_partition() -> None:
    usage = parse_log_dirs(ANSWER)
    assert [(r.topic, r.partition, r.broker) for r in usage.replicas] == [
        ("raw", 0, 1), ("raw", 0, 1), ("raw", 0, 2), ("raw", 1, 2), ("raw.dlq", 0, 1),
    ]  # fmt: skip
    # The future replica (being moved between dirs) is not counted twice.
    assert usage.total_bytes == 100 + 95 + 70 + 5
    assert usage.by_broker() == {1: 105, 2: 165}
    assert usage.by_topic() == {"raw": 265, "raw.dlq": 5}
    # One copy of a partition: its largest replica.
    assert usage.partition_bytes() == {("raw", 0): 100, ("raw", 1): 70, ("raw.dlq", 0): 5}
    assert usage.for_topics(["raw.dlq"]).total_bytes == 5


def test_parse_keeps_log_dir_errors_and_capacity() -> None:
    dirs = {(d.broker, d.log_dir): d for d in parse_log_dirs(ANSWER).log_dirs}
    assert dirs[(2, "/data/b2")].total_bytes == 1000
    assert dirs[(2, "/data/b2")].usable_bytes == 400
    assert dirs[(1, "/data/b1")].total_bytes is None  # -1: an older answer without capacity
    assert dirs[(2, "/data/bad")].error == "KafkaStorageError"


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (kerr.IncompatibleBrokerVersion("no DescribeLogDirs"), errors.UnsupportedByBrokerError),
        (kerr.UnsupportedVersionError("v9"), errors.UnsupportedByBrokerError),
        (kerr.KafkaTimeoutError("Unable to bootstrap"), errors.BrokerUnavailableError),
        (ConnectionRefusedError(111, "refused"), errors.BrokerUnavailableError),
        (kerr.SaslAuthenticationFailedError("bad password"), errors.AuthenticationError),
        (kerr.ClusterAuthorizationFailedError("no ACL"), errors.AuthorizationError),
        (ssl.SSLCertVerificationError("certificate verify failed"), errors.CertificateError),
        (kerr.UnknownTopicOrPartitionError("gone"), errors.TopicError),
        (kerr.NotControllerError("moved"), errors.BrokerError),
    ],
)
def test_errors_are_translated(exc: BaseException, kind: type[errors.BrokerError]) -> None:
    out = translate_kafka_python_error(exc, "DescribeLogDirs", "k:9092")
    assert type(out) is kind
    assert "DescribeLogDirs" in str(out)


def test_a_timeout_behind_a_security_failure_names_the_failure() -> None:
    out = translate_kafka_python_error(
        kerr.KafkaTimeoutError("Unable to bootstrap"),
        "DescribeLogDirs",
        "k:9092",
        behind=kerr.SaslAuthenticationFailedError("Authentication failed: invalid credentials"),
    )
    assert isinstance(out, errors.AuthenticationError)
    assert "invalid credentials" in str(out)


def test_a_connection_closed_during_sasl_authenticate_is_a_failed_login() -> None:
    import logging

    from kafka.protocol.admin import DescribeLogDirsRequest

    from cosmic_horizons.topics.usage import _SeenFailures

    class SaslAuthenticateRequest:  # the name is what the watch reads, as kafka-python logs it
        pass

    seen = _SeenFailures()
    log = logging.getLogger("kafka.net.connection")
    log.addHandler(seen)
    log.setLevel(logging.DEBUG)
    try:
        log.debug("%s Request %d: %s", "conn", 3, DescribeLogDirsRequest(topics=[]))
        log.error("%s: Connection lost: %s", "conn", kerr.KafkaConnectionError("socket closed"))
        assert seen.security_failure() is None  # lost outside SASL: not a login failure
        log.debug("%s Request %d: %s", "conn", 4, SaslAuthenticateRequest())
        log.error("%s: Connection lost: %s", "conn", kerr.KafkaConnectionError("socket closed"))
    finally:
        log.removeHandler(seen)
    failure = seen.security_failure()
    assert isinstance(failure, kerr.SaslAuthenticationFailedError)
    assert "during SASL authentication" in str(failure)


def test_forwarded_kafka_python_log_masks_the_password(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from cosmic_horizons.topics.usage import _SeenFailures

    seen = _SeenFailures(["s3cret"], forward=True)
    record = logging.LogRecord(
        "kafka.admin.client", logging.DEBUG, __file__, 1, "config: %s",
        ({"sasl_plain_password": "s3cret"},), None,
    )  # fmt: skip
    with caplog.at_level(logging.DEBUG, logger="cosmic_horizons.kafka_python"):
        seen.emit(record)
    assert "s3cret" not in caplog.text
    assert "'sasl_plain_password': '********'" in caplog.text
