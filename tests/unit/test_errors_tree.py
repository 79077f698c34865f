"""The exception tree: kafka_errors translates at the edge; storage vs integrity errors."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException

import cosmic_horizons
from cosmic_horizons import errors
from cosmic_horizons.errors import (
    ArchiveError,
    ArchiveIntegrityError,
    AuthenticationError,
    BrokerError,
    BrokerUnavailableError,
    StorageError,
    TopicError,
    kafka_errors,
)


def _raise(code: int, text: str) -> None:
    raise KafkaException(RdKafkaError(code, text))


def test_kafka_errors_names_the_operation_and_target_and_keeps_the_cause() -> None:
    with (
        pytest.raises(TopicError) as info,
        kafka_errors("DescribeConfigs", "t1", error_type=TopicError),
    ):
        _raise(RdKafkaError.POLICY_VIOLATION, "denied")
    assert str(info.value).startswith("DescribeConfigs on t1 failed: POLICY_VIOLATION")
    assert isinstance(info.value.__cause__, KafkaException)
    assert info.value.code == "POLICY_VIOLATION"


def test_kafka_errors_reports_unreachable_as_retriable_connection_error() -> None:
    with pytest.raises(BrokerUnavailableError) as info, kafka_errors("Metadata", "b:1"):
        _raise(RdKafkaError._TRANSPORT, "Connection refused")
    assert info.value.retriable
    assert isinstance(info.value, ConnectionError) and isinstance(info.value, BrokerError)
    assert str(info.value).startswith("Metadata on b:1: broker unreachable")


def test_kafka_errors_names_a_security_failure() -> None:
    with pytest.raises(AuthenticationError) as info, kafka_errors("Metadata", "b:1"):
        _raise(RdKafkaError.SASL_AUTHENTICATION_FAILED, "bad password")
    assert not info.value.retriable
    assert str(info.value).startswith("Metadata on b:1: SASL authentication failed")


def test_kafka_errors_lets_other_exceptions_through() -> None:
    with pytest.raises(ValueError, match="not kafka"), kafka_errors("Metadata"):
        raise ValueError("not kafka")


def test_storage_is_retriable_integrity_is_not() -> None:
    assert StorageError("down").retriable
    assert not ArchiveIntegrityError("overlap").retriable
    assert issubclass(StorageError, ArchiveError) and issubclass(
        ArchiveIntegrityError, ArchiveError
    )
    assert not issubclass(ArchiveIntegrityError, StorageError)


def test_the_project_no_longer_shadows_confluent_kafkas_name() -> None:
    assert not hasattr(errors, "KafkaError") and "KafkaError" not in errors.__all__
    assert not hasattr(cosmic_horizons, "KafkaError")
    assert cosmic_horizons.BrokerError is BrokerError
