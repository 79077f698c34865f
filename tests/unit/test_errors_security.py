"""SASL and TLS failures: classified in one place, from librdkafka's own errors."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException

from cosmic_horizons.cluster import check_broker
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.errors import (
    AuthenticationError,
    BrokerError,
    BrokerUnavailableError,
    CertificateError,
    SecurityError,
    TLSError,
    classify_security,
    clear_security_errors,
    client_hooks,
    from_kafka_error,
)


@pytest.fixture(autouse=True)
def _forget_failures() -> Iterator[None]:
    clear_security_errors()
    yield
    clear_security_errors()


# Texts as librdkafka 2.x words them (error_cb, log lines).
SASL_HANDSHAKE = (
    "sasl_plaintext://127.0.0.1:9092/bootstrap: SASL PLAIN mechanism handshake failed: Broker: "
    "Unsupported SASL mechanism: broker's supported mechanisms: PLAIN (after 5ms in state "
    "AUTH_HANDSHAKE)"
)
SASL_LOGIN = (
    "sasl_ssl://b1:9093/1: SASL authentication error: Authentication failed during "
    "authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512 (after 3ms "
    "in state AUTH_REQ)"
)
TLS_TIMEOUT = "ssl://127.0.0.1:9092/bootstrap: Connection setup timed out in state SSL_HANDSHAKE"
TLS_PLAIN = (
    "ssl://b1:9092/bootstrap: SSL handshake failed: error:0A00010B:SSL routines::wrong version "
    "number (after 2ms in state SSL_HANDSHAKE)"
)
CERT = (
    "ssl://b1:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate "
    "verify failed: broker certificate could not be verified, verify that ssl.ca.location is "
    "correctly configured or root CA certificates are installed"
)


@pytest.mark.parametrize(
    ("code", "text", "kind"),
    [
        (RdKafkaError._AUTHENTICATION, SASL_HANDSHAKE, AuthenticationError),
        (RdKafkaError._AUTHENTICATION, SASL_LOGIN, AuthenticationError),
        (RdKafkaError.SASL_AUTHENTICATION_FAILED, "Authentication failed", AuthenticationError),
        (None, SASL_HANDSHAKE, AuthenticationError),  # a log line
        (RdKafkaError._TRANSPORT, TLS_TIMEOUT, TLSError),
        (None, TLS_PLAIN, TLSError),
        (RdKafkaError._SSL, TLS_PLAIN, TLSError),
        (RdKafkaError._SSL, CERT, CertificateError),
        (RdKafkaError._TRANSPORT, CERT, CertificateError),
    ],
)
def test_security_failures_are_classified(
    code: int | None, text: str, kind: type[SecurityError]
) -> None:
    found = classify_security(code, text)
    assert type(found) is kind
    assert isinstance(found, BrokerError) and not found.retriable
    assert "(after" not in str(found)  # librdkafka's timing suffix is dropped


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (RdKafkaError._TRANSPORT, "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed"),
        (RdKafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"),
        (RdKafkaError.UNKNOWN_TOPIC_OR_PART, "Broker: Unknown topic or partition"),
        (None, "Disconnected (after 10ms in state UP)"),
    ],
)
def test_other_failures_are_not_security(code: int | None, text: str) -> None:
    assert classify_security(code, text) is None


def test_messages_say_what_to_check() -> None:
    auth = classify_security(RdKafkaError._AUTHENTICATION, SASL_LOGIN)
    assert auth is not None and "KAFKA_SASL_USERNAME" in str(auth)
    cert = classify_security(RdKafkaError._SSL, CERT)
    assert cert is not None and "KAFKA_SSL_CA_LOCATION" in str(cert) and "host" in str(cert)
    assert "unreachable" not in str(auth) + str(cert)


def test_a_transport_error_after_an_auth_failure_names_the_auth_failure() -> None:
    hooks = client_hooks("b1:9092")
    transport = KafkaException(RdKafkaError(RdKafkaError._TRANSPORT, "Broker transport failure"))
    before = from_kafka_error(transport, operation="Metadata", bootstrap="b1:9092")
    assert isinstance(before, BrokerUnavailableError)
    hooks["error_cb"](RdKafkaError(RdKafkaError._AUTHENTICATION, SASL_LOGIN))
    after = from_kafka_error(transport, operation="Metadata", target="b1:9092", bootstrap="b1:9092")
    assert isinstance(after, AuthenticationError)
    assert str(after).startswith("Metadata on b1:9092: SASL authentication failed")
    # Another cluster's clients are not affected.
    other = from_kafka_error(transport, operation="Metadata", bootstrap="b2:9092")
    assert isinstance(other, BrokerUnavailableError)


def test_the_log_hook_watches_and_logs_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    logger = client_hooks("b1:9092")["logger"]
    with caplog.at_level("DEBUG", logger="cosmic_horizons.librdkafka"):
        logger.log(3, "%s [%s] %s", "FAIL", "rdkafka#consumer-1", f"[thrd:x]: {TLS_TIMEOUT}")
    assert [r.levelname for r in caplog.records] == ["DEBUG"]
    transport = KafkaException(RdKafkaError(RdKafkaError._TRANSPORT, "Broker transport failure"))
    found = from_kafka_error(transport, operation="Metadata", bootstrap="b1:9092")
    assert isinstance(found, TLSError) and "SSL_HANDSHAKE" in str(found)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[int]:
    """A TLS listener on loopback with a self-signed certificate (no Kafka behind it)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=broker.invalid"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    server.close()


def test_real_librdkafka_certificate_failure_is_classified(tls_server: int) -> None:
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{tls_server}", security_protocol="SSL")
    result = check_broker(settings, timeout=5)
    assert not result.reachable
    assert result.failure == "tls"
    assert result.error is not None and "certificate verif" in result.error
    assert "KAFKA_SSL_CA_LOCATION" in result.error
