"""The exception tree.

Every error this package raises derives from :class:`HorizonsError`::

    HorizonsError
    ├── ConfigError (also ValueError)          bad settings or environment
    ├── PacketError (also ValueError)          a packet failed to decode or validate
    ├── BrokerError                            the broker or the client said no
    │   ├── BrokerUnavailableError             no broker answered in time (retriable;
    │   │                                      also ConnectionError)
    │   ├── UnsupportedByBrokerError           the broker does not implement an operation
    │   ├── SecurityError                      the connection's security failed (not retriable)
    │   │   ├── AuthenticationError            SASL handshake or authentication refused
    │   │   ├── AuthorizationError             authenticated, but no ACL allows the operation
    │   │   └── TLSError                       the TLS handshake failed
    │   │       └── CertificateError           the broker's certificate was not verified
    │   └── TopicError                         a topic operation failed
    ├── PublishError                           packets could not be delivered
    └── ArchiveError                           archive storage or archive content problems
        ├── StorageError                       the storage could not be reached or refused
        │                                      a call (transient: retriable)
        └── ArchiveIntegrityError              the archive's content is inconsistent: an
                                               unreadable file, another incarnation of the
                                               topic (not retriable)

Errors that talk to Kafka carry ``retriable``: True when the same call may succeed later.
librdkafka errors are translated once, at the edge, by :func:`from_kafka_error`; code that
calls librdkafka wraps the call in :func:`kafka_errors` (the operation and its target), which
raises the translation from the original exception::

    with kafka_errors("Metadata", bootstrap, client=admin, bootstrap=bootstrap):
        metadata = admin.list_topics(timeout=5)

librdkafka reports a failed SASL or TLS handshake only through a client's ``error_cb`` and
its log, while the operation itself fails with a plain transport error. Every client gets
:func:`client_hooks` (an ``error_cb`` and a ``logger``); they route librdkafka's log to the
``cosmic_horizons.librdkafka`` logger at debug level and remember the latest security failure,
per bootstrap list, which :func:`from_kafka_error` then reports instead of "broker
unreachable" (given the failed client, which it polls so that queued reports are seen).
:func:`classify_security` is the one place that decides what a security failure is.
"""

from ._librdkafka import UNREACHABLE_CODES as UNREACHABLE_CODES
from ._librdkafka import (
    classify_security,
    clear_security_errors,
    client_hooks,
    from_kafka_error,
    kafka_errors,
    note_client_error,
    recent_security_error,
    without_state_tail,
)
from ._librdkafka import rdkafka_error_of as rdkafka_error_of
from ._tree import (
    ArchiveError,
    ArchiveIntegrityError,
    AuthenticationError,
    AuthorizationError,
    BrokerError,
    BrokerUnavailableError,
    CertificateError,
    ConfigError,
    HorizonsError,
    PacketError,
    PublishError,
    SecurityError,
    StorageError,
    TLSError,
    TopicError,
    UnsupportedByBrokerError,
)

__all__ = [
    "ArchiveError",
    "ArchiveIntegrityError",
    "AuthenticationError",
    "AuthorizationError",
    "BrokerError",
    "BrokerUnavailableError",
    "CertificateError",
    "ConfigError",
    "HorizonsError",
    "PacketError",
    "PublishError",
    "SecurityError",
    "StorageError",
    "TLSError",
    "TopicError",
    "UnsupportedByBrokerError",
    "classify_security",
    "clear_security_errors",
    "client_hooks",
    "from_kafka_error",
    "kafka_errors",
    "note_client_error",
    "recent_security_error",
    "without_state_tail",
]
