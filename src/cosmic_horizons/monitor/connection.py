"""Why the monitor's requests failed, in words: unreachable or not, and librdkafka's reason.

A failed request only says "transport"; the client's ``error_cb`` says why (refused, cannot
resolve...). :func:`connection_reason` turns that into a few words for the monitor's one line.
"""

from __future__ import annotations

import re

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from ..errors import (
    UNREACHABLE_CODES,
    BrokerUnavailableError,
    from_kafka_error,
    rdkafka_error_of,
    without_state_tail,
)

__all__ = ["CONNECTION_CODES", "connection_reason", "describe_failure", "is_unreachable"]

#: Connection errors librdkafka reports through ``error_cb``: they say why (refused, resolve...).
CONNECTION_CODES = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._RESOLVE,
        KafkaError._SSL,
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
    }
)
_RESOLVE = re.compile(r"Failed to resolve '([^']+)': (.+)$")
_FAILED = re.compile(r"failed: (.+)$")
_PREFIX = re.compile(r"^\S+/(?:bootstrap|\d+): ")


def connection_reason(text: str) -> str:
    """librdkafka's connection error as a few words: ``connection refused``, ``cannot resolve
    kafka:9092: name or service not known``, ``connection setup timed out``."""
    text = without_state_tail(_PREFIX.sub("", text.strip()))
    if m := _RESOLVE.search(text):
        return f"cannot resolve {m.group(1)}: {m.group(2)[:1].lower()}{m.group(2)[1:]}"
    if m := _FAILED.search(text):
        text = m.group(1)
    return text[:1].lower() + text[1:] if text else "no answer"


def is_unreachable(exc: BaseException) -> bool:
    """No broker answered ``exc``'s request (a timeout, or librdkafka's transport errors)."""
    if isinstance(exc, TimeoutError | BrokerUnavailableError):
        return True
    err = rdkafka_error_of(exc)
    return err is not None and err.code() in UNREACHABLE_CODES


def describe_failure(
    exc: BaseException,
    operation: str,
    target: str,
    *,
    client: AdminClient | None = None,
    bootstrap: str | None = None,
) -> str:
    """``exc`` of ``operation`` on ``target`` as one line (librdkafka's, translated)."""
    if isinstance(exc, KafkaException):
        return str(
            from_kafka_error(
                exc, operation=operation, target=target, client=client, bootstrap=bootstrap
            )
        )
    if isinstance(exc, TimeoutError):
        return f"{operation} on {target}: no answer in time"
    return f"{operation} on {target}: {exc}"
