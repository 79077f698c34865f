"""The exception tree.

Every error this package raises derives from :class:`HorizonsError`::

    HorizonsError
    ├── ConfigError (also ValueError)          bad settings or environment
    ├── PacketError (also ValueError)          a packet failed to decode or validate
    ├── KafkaError                             the broker or the client said no
    │   ├── BrokerUnavailableError             no broker answered in time (retriable)
    │   ├── UnsupportedByBrokerError           the broker does not implement an operation
    │   └── TopicError                         a topic operation failed
    ├── PublishError                           packets could not be delivered
    └── ArchiveError                           archive storage or archive content problems

Errors that talk to Kafka carry ``retriable``: True when the same call may succeed later.
librdkafka errors are translated once, at the edge, by :func:`from_kafka_error`.
"""

from __future__ import annotations

from confluent_kafka import KafkaError as _RdKafkaError
from confluent_kafka import KafkaException as _RdKafkaException

__all__ = [
    "ArchiveError",
    "BrokerUnavailableError",
    "ConfigError",
    "HorizonsError",
    "KafkaError",
    "PacketError",
    "PublishError",
    "TopicError",
    "UnsupportedByBrokerError",
    "from_kafka_error",
]


class HorizonsError(Exception):
    """Root of every error raised by cosmic_horizons."""

    retriable: bool = False


class ConfigError(HorizonsError, ValueError):
    """A setting is missing or malformed; the message names the setting."""


class PacketError(HorizonsError, ValueError):
    """A packet failed to decode or validate.

    ``field`` is the JSON path of the offending field (``$.metrics.rfiLevel``), or ``$``
    when the packet as a whole is wrong; ``reason`` says what was wrong with it.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class KafkaError(HorizonsError):
    """The Kafka client or broker refused an operation.

    ``code`` is the librdkafka error name (``UNKNOWN_TOPIC_OR_PART``), when known.
    """

    def __init__(self, message: str, *, code: str | None = None, retriable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retriable = retriable


class BrokerUnavailableError(KafkaError):
    """No broker could be reached at the configured bootstrap address."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code, retriable=True)


class UnsupportedByBrokerError(KafkaError):
    """The broker does not implement an operation; nothing was changed.

    ``operation`` names the Kafka API (``DeleteRecords``), ``answer`` is what the broker said.
    """

    def __init__(self, operation: str, answer: str) -> None:
        self.operation = operation
        self.answer = answer
        super().__init__(
            f"the broker does not support {operation} (it answered: {answer}); nothing was changed",
            code="UNSUPPORTED",
        )


class TopicError(KafkaError):
    """A topic could not be created, described or altered."""


class PublishError(HorizonsError):
    """Packets could not be delivered; ``undelivered`` counts them."""

    def __init__(self, message: str, *, undelivered: int = 0) -> None:
        super().__init__(message)
        self.undelivered = undelivered


class ArchiveError(HorizonsError):
    """Archive storage failed, or the archive's content is inconsistent."""


# librdkafka codes that mean "the broker cannot do this at all".
_UNSUPPORTED_CODES = frozenset(
    {
        _RdKafkaError.UNSUPPORTED_VERSION,
        _RdKafkaError._UNSUPPORTED_FEATURE,
        _RdKafkaError.INVALID_REQUEST,
    }
)
_UNREACHABLE_CODES = frozenset(
    {
        _RdKafkaError._TRANSPORT,
        _RdKafkaError._ALL_BROKERS_DOWN,
        _RdKafkaError._TIMED_OUT,
        _RdKafkaError._RESOLVE,
    }
)


def rdkafka_error_of(exc: BaseException) -> _RdKafkaError | None:
    """The librdkafka error inside ``exc``, if it carries one."""
    if isinstance(exc, _RdKafkaException) and exc.args and isinstance(exc.args[0], _RdKafkaError):
        return exc.args[0]
    if isinstance(exc, _RdKafkaError):
        return exc
    return None


def from_kafka_error(
    exc: BaseException,
    *,
    operation: str,
    target: str = "",
    error_type: type[KafkaError] = KafkaError,
) -> KafkaError:
    """Translate a librdkafka exception raised by ``operation`` into this package's tree."""
    err = rdkafka_error_of(exc)
    where = f" on {target}" if target else ""
    if err is None:
        return error_type(f"{operation}{where} failed: {exc}")
    code = err.code()
    name = err.name()
    text = err.str()
    if code in _UNSUPPORTED_CODES:
        return UnsupportedByBrokerError(operation, f"{name}: {text}")
    if code in _UNREACHABLE_CODES:
        return BrokerUnavailableError(
            f"{operation}{where}: broker unreachable ({name}: {text}); "
            "check --bootstrap / KAFKA_BOOTSTRAP_SERVERS and that the broker is running",
            code=name,
        )
    return error_type(
        f"{operation}{where} failed: {name}: {text}", code=name, retriable=err.retriable()
    )
