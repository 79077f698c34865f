"""kafka-python for this project: the one mapping of
:class:`~cosmic_horizons.config.KafkaSettings` to its admin options, its log watched for the
failures it retries, its errors translated into this project's (used by :mod:`.usage` and
:mod:`cosmic_horizons.scaling.kpadmin`)."""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Iterator, Sequence
from typing import Any

from .. import errors
from ..config import KafkaSettings

__all__ = ["kafka_python_config", "translate_kafka_python_error"]


def kafka_python_config(
    settings: KafkaSettings, *, client_id: str = "cosmic-horizons", timeout_s: float = 10.0
) -> dict[str, Any]:
    """kafka-python's admin options for ``settings`` (the one mapping).

    PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL with PLAIN or SCRAM map one to one; mTLS
    (client certificate and key) and the hostname check too. OAUTHBEARER is refused with a
    :class:`~cosmic_horizons.errors.ConfigError`: kafka-python has no OIDC token method.
    """
    timeout_ms = max(1000, int(timeout_s * 1000))
    conf: dict[str, Any] = {
        "bootstrap_servers": settings.require_bootstrap().split(","),
        "client_id": client_id,
        "security_protocol": settings.security_protocol,
        "request_timeout_ms": timeout_ms,
        "bootstrap_timeout_ms": timeout_ms,
    }
    if settings.sasl_mechanism == "OAUTHBEARER":
        raise errors.ConfigError(
            "KAFKA_SASL_MECHANISM=OAUTHBEARER: disk usage (DescribeLogDirs) goes through "
            "kafka-python, which has no OIDC client-credentials method; use PLAIN or SCRAM "
            "credentials for this command"
        )
    if settings.security_protocol.startswith("SASL"):
        conf["sasl_mechanism"] = settings.sasl_mechanism or "PLAIN"
        conf["sasl_plain_username"] = settings.sasl_username
        conf["sasl_plain_password"] = (
            settings.sasl_password.reveal() if settings.sasl_password else None
        )
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        conf["ssl_check_hostname"] = settings.ssl_verify_hostname
        if settings.ssl_ca_location:
            conf["ssl_cafile"] = settings.ssl_ca_location
        if settings.ssl_certificate_location:
            conf["ssl_certfile"] = settings.ssl_certificate_location
            conf["ssl_keyfile"] = settings.ssl_key_location
        if settings.ssl_key_password:
            conf["ssl_password"] = settings.ssl_key_password.reveal()
    return conf


class _SeenFailures(logging.Handler):
    """kafka-python's log, watched: the connection failures it retries until its timeout.

    Kafka closes the connection of a refused SCRAM login, and kafka-python often sees only
    the close; a connection lost while a SaslAuthenticate request is pending is therefore
    a failed login (as librdkafka's "in state AUTH_REQ"). With ``forward``, each record goes on
    to the ``cosmic_horizons.kafka_python`` logger at debug level with ``secrets`` masked
    (kafka-python logs its configuration, password included).
    """

    def __init__(self, secrets: Sequence[str] = (), *, forward: bool = False) -> None:
        super().__init__(logging.DEBUG)
        self.failures: list[BaseException] = []
        self.secrets = [x for x in secrets if x]
        self.forward = forward
        self._sasl_pending = False

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        for arg in args:
            self._note(arg)
        if self.forward:
            text = record.getMessage()
            for secret in self.secrets:
                text = text.replace(secret, "********")
            _FORWARD.debug("%s: %s", record.name, text)

    def _note(self, arg: object) -> None:
        from kafka import errors as kerr

        kind = type(arg).__name__
        if kind.startswith("SaslAuthenticateRequest"):
            self._sasl_pending = True
        elif kind.startswith("SaslAuthenticateResponse"):
            self._sasl_pending = False
        elif isinstance(arg, BaseException):
            failure: BaseException = arg
            if self._sasl_pending and isinstance(arg, kerr.KafkaConnectionError):
                failure = kerr.SaslAuthenticationFailedError(
                    f"the broker closed the connection during SASL authentication ({arg})"
                )
            self._sasl_pending = False
            self.failures.append(failure)

    def clear(self) -> None:
        self.failures.clear()

    def security_failure(self) -> BaseException | None:
        for exc in reversed(self.failures):
            if _security_kind(exc) is not None:
                return exc
        return None


_FORWARD = logging.getLogger("cosmic_horizons.kafka_python")


@contextlib.contextmanager
def _kafka_python_errors(
    operation: str, target: str, secrets: Sequence[str] = ()
) -> Iterator[_SeenFailures]:
    """Translate kafka-python's errors inside the block; its log is watched, not printed."""
    from kafka.errors import KafkaError

    logger = logging.getLogger("kafka")
    seen = _SeenFailures(secrets, forward=_FORWARD.isEnabledFor(logging.DEBUG))
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(seen)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield seen
    except (KafkaError, OSError) as exc:
        behind = seen.security_failure()
        raise translate_kafka_python_error(exc, operation, target, behind=behind) from exc
    finally:
        logger.removeHandler(seen)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


def _security_kind(exc: BaseException) -> type[errors.SecurityError] | None:
    from kafka import errors as kerr

    if isinstance(exc, ssl.SSLCertVerificationError):
        return errors.CertificateError
    if isinstance(exc, ssl.SSLError):
        return errors.TLSError
    if isinstance(
        exc,
        kerr.SaslAuthenticationFailedError
        | kerr.UnsupportedSaslMechanismError
        | kerr.IllegalSaslStateError,
    ):
        return errors.AuthenticationError
    if isinstance(exc, kerr.AuthorizationError):
        return errors.AuthorizationError
    return None


def translate_kafka_python_error(
    exc: BaseException, operation: str, target: str, *, behind: BaseException | None = None
) -> errors.BrokerError:
    """This project's error for a kafka-python failure of ``operation`` on ``target``.

    ``behind`` is a security failure seen while kafka-python retried: it explains a timeout.
    """
    from kafka import errors as kerr

    where = f"{operation} on {target}"
    for cause in (exc, behind):
        kind = None if cause is None else _security_kind(cause)
        if kind is not None:
            return kind(f"{type(cause).__name__}: {cause}", where=where)
    if isinstance(exc, kerr.UnsupportedVersionError | kerr.InvalidRequestError):
        return errors.UnsupportedByBrokerError(operation, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, kerr.UnknownTopicOrPartitionError):
        return errors.TopicError(
            f"{where} failed: no such topic ({exc})", code="UNKNOWN_TOPIC_OR_PART"
        )
    unreachable = (
        kerr.KafkaTimeoutError,
        kerr.KafkaConnectionError,
        kerr.NodeNotReadyError,
        OSError,
    )
    if isinstance(exc, unreachable):
        return errors.BrokerUnavailableError(
            f"{where}: broker unreachable ({type(exc).__name__}: {exc}); "
            "check --bootstrap / KAFKA_BOOTSTRAP_SERVERS and that the broker is running",
            code="_TRANSPORT",
        )
    retriable = bool(getattr(exc, "retriable", False))
    return errors.BrokerError(
        f"{where} failed: {type(exc).__name__}: {exc}", code=type(exc).__name__, retriable=retriable
    )
