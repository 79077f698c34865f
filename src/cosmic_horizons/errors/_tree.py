"""The exception classes of :mod:`cosmic_horizons.errors` (the tree is drawn there)."""

from __future__ import annotations


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


class BrokerError(HorizonsError):
    """The Kafka client or broker refused an operation.

    ``code`` is the librdkafka error name (``UNKNOWN_TOPIC_OR_PART``), when known.
    """

    def __init__(self, message: str, *, code: str | None = None, retriable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retriable = retriable


class BrokerUnavailableError(BrokerError, ConnectionError):
    """No broker could be reached at the configured bootstrap address (also a ConnectionError)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code, retriable=True)


class UnsupportedByBrokerError(BrokerError):
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


class SecurityError(BrokerError):
    """The connection to the brokers failed its security: SASL or TLS. Never retriable.

    ``detail`` is librdkafka's own description; the message says what to check.
    """

    what = "security"
    hint = "check KAFKA_SECURITY_PROTOCOL and the SASL/TLS settings"

    def __init__(self, detail: str, *, code: str | None = None, where: str = "") -> None:
        self.detail = detail
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{self.what} failed ({detail}); {self.hint}", code=code)

    def at(self, where: str) -> SecurityError:
        """The same failure, reported as seen by ``where`` (an operation on a target)."""
        return type(self)(self.detail, code=self.code, where=where)


class AuthenticationError(SecurityError):
    """SASL: the handshake failed (mechanism; a listener without SASL) or the login was refused."""

    what = "SASL authentication"
    hint = (
        "check the credentials (KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD), the mechanism "
        "(KAFKA_SASL_MECHANISM), and that this listener expects SASL (KAFKA_SECURITY_PROTOCOL)"
    )


class AuthorizationError(SecurityError):
    """The principal authenticated, but no ACL allows it the operation on ``resource``.

    ``resource`` is what was refused: ``topic``, ``consumer group`` or ``cluster``. When the
    caller knows the ACL (``acl``: ``Write on topic T``) and the ``principal``, the message
    names both and points at ``horizons acls check``.
    """

    what = "authorization"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        where: str = "",
        resource: str = "",
        acl: str = "",
        principal: str = "",
    ) -> None:
        self.detail = detail
        self.resource = resource or _RESOURCE_OF.get(code or "", "resource")
        self.acl = acl
        self.principal = principal
        prefix = f"{where}: " if where else ""
        if acl:
            message = (
                f"{prefix}not authorized: {acl} for {principal or 'this principal'} "
                "(check: horizons acls check)"
            )
        else:
            message = (
                f"{prefix}not authorized: the principal has no ACL allowing this on the "
                f"{self.resource} ({detail}); check the ACLs of the principal "
                "(KAFKA_SASL_USERNAME, or the CN of KAFKA_SSL_CERTIFICATE_LOCATION) with "
                "kafka-acls --list"
            )
        BrokerError.__init__(self, message, code=code)

    def at(self, where: str) -> AuthorizationError:
        return type(self)(
            self.detail,
            code=self.code,
            where=where,
            resource=self.resource,
            acl=self.acl,
            principal=self.principal,
        )

    def naming(self, acl: str, principal: str) -> AuthorizationError:
        """The same failure, naming the ACL it lacks and the principal."""
        return type(self)(
            self.detail, code=self.code, resource=self.resource, acl=acl, principal=principal
        )


_RESOURCE_OF = {
    "TOPIC_AUTHORIZATION_FAILED": "topic",
    "GROUP_AUTHORIZATION_FAILED": "consumer group",
    "CLUSTER_AUTHORIZATION_FAILED": "cluster",
    "TRANSACTIONAL_ID_AUTHORIZATION_FAILED": "transactional id",
}


class TLSError(SecurityError):
    """TLS: the handshake failed, or the broker's certificate could not be verified."""

    what = "TLS handshake"
    hint = (
        "check that this listener speaks TLS (KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL), the CA "
        "file (KAFKA_SSL_CA_LOCATION), that the broker's certificate names the host in "
        "--bootstrap, and the client certificate a listener may require "
        "(KAFKA_SSL_CERTIFICATE_LOCATION, KAFKA_SSL_KEY_LOCATION)"
    )


class CertificateError(TLSError):
    """TLS: the broker's certificate was not trusted or does not name the host."""

    what = "TLS certificate verification"
    hint = (
        "check the CA file (KAFKA_SSL_CA_LOCATION: the CA that signed the broker's "
        "certificate) and that the certificate names the host in --bootstrap"
    )


class TopicError(BrokerError):
    """A topic could not be created, described or altered."""


class PublishError(HorizonsError):
    """Packets could not be delivered; ``undelivered`` counts them."""

    def __init__(self, message: str, *, undelivered: int = 0) -> None:
        super().__init__(message)
        self.undelivered = undelivered


class ArchiveError(HorizonsError):
    """Archive storage failed, or the archive's content is inconsistent."""


class StorageError(ArchiveError):
    """The archive storage could not be reached or refused a call (not its content).

    Transient (unreachable, refused, timed out): the same call may succeed later.
    """

    retriable = True


class ArchiveIntegrityError(ArchiveError):
    """The archive's content is inconsistent: a file that is not a readable archive file,
    or files of another incarnation of the topic. Retrying cannot help."""
