"""`horizons topics usage` on the secured node: the one settings mapping to kafka-python
(SASL_SSL with SCRAM, mTLS) works, and a refused login is the project's SECURITY exit."""

from __future__ import annotations

import json

from cosmic_horizons.cli.exits import Exit
from tests.security.conftest import SecureKafka

WRONG_PASSWORD = "not-the-password-8c1e"


def _usage(secure_kafka: SecureKafka, env: dict[str, str]) -> dict[str, object]:
    run = secure_kafka.horizons("topics", "usage", "--json", env=env, debug=False)
    assert run.code == 0, run.output
    doc: dict[str, object] = json.loads(run.stdout)
    assert doc["log_dirs"], doc  # the node answered DescribeLogDirs over this connection
    return doc


def test_usage_over_sasl_ssl_scram(secure_kafka: SecureKafka) -> None:
    _usage(secure_kafka, secure_kafka.env("admin"))


def test_usage_over_mtls(secure_kafka: SecureKafka) -> None:
    _usage(secure_kafka, secure_kafka.mtls_env())


def test_usage_with_a_wrong_password_is_a_security_failure(secure_kafka: SecureKafka) -> None:
    env = secure_kafka.env("admin", KAFKA_SASL_PASSWORD=WRONG_PASSWORD)
    run = secure_kafka.horizons("topics", "usage", "--json", env=env)
    assert run.code == Exit.SECURITY, run.output
    assert run.stdout == ""
    assert "SASL authentication" in run.stderr and "KAFKA_SASL_PASSWORD" in run.stderr
    assert WRONG_PASSWORD not in run.stderr
