"""librdkafka's errors translated into :mod:`cosmic_horizons.errors`' tree, once, at the edge.

:func:`kafka_errors` wraps a librdkafka call; :func:`from_kafka_error` is the translation;
:func:`classify_security` decides what a SASL/TLS/ACL failure is; :func:`client_hooks` give
every client the ``error_cb`` and ``logger`` that remember the latest security failure per
bootstrap list (librdkafka reports it there, not in the failed call).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

from confluent_kafka import KafkaError as _RdKafkaError
from confluent_kafka import KafkaException as _RdKafkaException

from ._tree import (
    AuthenticationError,
    AuthorizationError,
    BrokerError,
    BrokerUnavailableError,
    CertificateError,
    SecurityError,
    TLSError,
    UnsupportedByBrokerError,
)

# librdkafka codes that mean "the broker cannot do this at all".
_UNSUPPORTED_CODES = frozenset(
    {
        _RdKafkaError.UNSUPPORTED_VERSION,
        _RdKafkaError._UNSUPPORTED_FEATURE,
        _RdKafkaError.INVALID_REQUEST,
    }
)
#: librdkafka codes that mean "no broker answered" (the request never reached one).
UNREACHABLE_CODES = frozenset(
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


# -- security failures ------------------------------------------------------------------

_AUTH_CODES = frozenset(
    {
        _RdKafkaError._AUTHENTICATION,
        _RdKafkaError.SASL_AUTHENTICATION_FAILED,
        _RdKafkaError.UNSUPPORTED_SASL_MECHANISM,
        _RdKafkaError.ILLEGAL_SASL_STATE,
    }
)
_AUTHORIZATION_CODES = frozenset(
    {
        _RdKafkaError.TOPIC_AUTHORIZATION_FAILED,
        _RdKafkaError.GROUP_AUTHORIZATION_FAILED,
        _RdKafkaError.CLUSTER_AUTHORIZATION_FAILED,
        _RdKafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    }
)
_CERTIFICATE_TEXT = re.compile(
    r"certificate verify failed|unable to get (local )?issuer certificate|self[- ]signed "
    r"certificate|certificate has expired|hostname mismatch|ssl\.ca\.location|"
    r"broker certificate could not be verified|IP address mismatch",
    re.IGNORECASE,
)
_TLS_TEXT = re.compile(
    r"SSL handshake failed|in state SSL_HANDSHAKE|SSL transport error|"
    r"wrong version number|tlsv1 alert|sslv3 alert|ssl/tls alert|tlsv13 alert|"
    r"packet length too long|record layer failure",
    re.IGNORECASE,
)
_AUTH_TEXT = re.compile(
    r"SASL authentication error|SASL .*handshake failed|SASL authentication failed|"
    r"in state AUTH_(HANDSHAKE|REQ|LEGACY)|Authentication failed|SASL mechanism",
    re.IGNORECASE,
)
#: librdkafka's tail on a connection error: ``(after 0ms in state CONNECT)``, sometimes with
#: ``, 1 identical error(s) suppressed`` inside and the error code's name after it.
_AFTER = re.compile(
    r"\s*\(after \d+ms in state [A-Z_]+(?:, \d+ identical error\(s\) suppressed)?\)"
    r"(\s*\(_[A-Z_]+\))?\s*$"
)


def without_state_tail(text: str) -> str:
    """``text`` without librdkafka's ``(after Nms in state X[, N identical error(s)
    suppressed])`` tail, so the same failure always reads the same."""
    return _AFTER.sub("", text.strip())


def classify_security(code: int | None, text: str) -> SecurityError | None:
    """The security failure librdkafka reports in ``code`` and ``text``, if it is one.

    ``code`` is a librdkafka error code (None for a log line). The codes ``_AUTHENTICATION``,
    ``SASL_AUTHENTICATION_FAILED``, ``UNSUPPORTED_SASL_MECHANISM``, ``ILLEGAL_SASL_STATE`` and
    ``_SSL`` are security failures whatever the text, and ``TOPIC_``/``GROUP_``/
    ``CLUSTER_``/``TRANSACTIONAL_ID_AUTHORIZATION_FAILED`` are :class:`AuthorizationError`;
    a transport error or a log line is one when its text says so ("SASL authentication
    error", "SSL handshake failed", "certificate verify failed", a connection that failed in
    state ``SSL_HANDSHAKE`` or ``AUTH_*``).
    """
    name = None
    if code is not None:
        try:
            name = _RdKafkaError(code).name()
        except (TypeError, ValueError):  # an unknown code
            name = str(code)
    detail = without_state_tail(text) or text.strip()
    if code in _AUTHORIZATION_CODES:
        return AuthorizationError(detail, code=name)
    if _CERTIFICATE_TEXT.search(text):
        return CertificateError(detail, code=name or "_SSL")
    if code in _AUTH_CODES:
        return AuthenticationError(detail, code=name)
    if code == _RdKafkaError._SSL or _TLS_TEXT.search(text):
        return TLSError(detail, code=name or "_SSL")
    if _AUTH_TEXT.search(text):
        return AuthenticationError(detail, code=name or "_AUTHENTICATION")
    return None


class _SecurityWatch:
    """The latest security failure reported by the clients of each bootstrap list."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, SecurityError]] = {}

    def note(self, bootstrap: str, code: int | None, text: str) -> None:
        found = classify_security(code, text)
        # a refused ACL does not explain a later transport error: only SASL/TLS failures
        if found is not None and not isinstance(found, AuthorizationError):
            with self._lock:
                self._last[bootstrap] = (time.monotonic(), found)

    def recent(self, bootstrap: str, within_s: float) -> SecurityError | None:
        with self._lock:
            last = self._last.get(bootstrap)
        if last is None or time.monotonic() - last[0] > within_s:
            return None
        return last[1]

    def clear(self) -> None:
        with self._lock:
            self._last.clear()


_WATCH = _SecurityWatch()
#: librdkafka repeats a security failure on every reconnect (at most ~1 s apart here), so a
#: failure older than this no longer explains a transport error.
_SECURITY_MEMORY_S = 30.0
_LIBRDKAFKA_LOG = logging.getLogger("cosmic_horizons.librdkafka")


def recent_security_error(
    bootstrap: str | None, within_s: float = _SECURITY_MEMORY_S
) -> SecurityError | None:
    """The latest SASL/TLS failure a client of ``bootstrap`` reported within ``within_s``."""
    return None if not bootstrap else _WATCH.recent(bootstrap, within_s)


def clear_security_errors() -> None:
    """Forget the failures seen so far (tests)."""
    _WATCH.clear()


class _LibrdkafkaLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """librdkafka's own log: to ``cosmic_horizons.librdkafka`` at debug level, and watched.

    Its errors also reach the ``error_cb`` (and the operations' results), where they are
    reported once and classified; the raw lines are for ``--log-level debug``.
    """

    def __init__(self, bootstrap: str) -> None:
        super().__init__(_LIBRDKAFKA_LOG, {"bootstrap": bootstrap})
        self.bootstrap = bootstrap

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = str(msg)
        # confluent-kafka logs "FACILITY [client] [thrd:...]: message": watch the message.
        message = _THREAD.sub("", str(args[-1])) if len(args) == 3 else text
        _WATCH.note(self.bootstrap, None, message)
        super().log(logging.DEBUG, "%s", text, **kwargs)


_THREAD = re.compile(r"^\s*\[thrd:[^\]]*\]:\s*")


def note_client_error(err: _RdKafkaError, bootstrap: str | None) -> None:
    """Hand an error a client of ``bootstrap`` reported (its ``error_cb``) to the watch."""
    if bootstrap:
        _WATCH.note(bootstrap, err.code(), err.str())


def client_hooks(bootstrap: str) -> dict[str, Any]:
    """``error_cb`` and ``logger`` for a librdkafka client of ``bootstrap`` (every client)."""

    def on_error(err: _RdKafkaError) -> None:
        note_client_error(err, bootstrap)
        _LIBRDKAFKA_LOG.debug("client error %s: %s", err.name(), err.str())

    return {"error_cb": on_error, "logger": _LibrdkafkaLog(bootstrap)}


def from_kafka_error(
    exc: BaseException,
    *,
    operation: str,
    target: str = "",
    error_type: type[BrokerError] = BrokerError,
    client: Any = None,
    bootstrap: str | None = None,
) -> BrokerError:
    """Translate a librdkafka exception raised by ``operation`` into this package's tree.

    A transport error ("unreachable") is reported as the SASL/TLS failure behind it when a
    client of ``bootstrap`` saw one lately; ``client`` (the one that failed) is polled first
    so that the failures it has queued for its ``error_cb`` and log are seen.
    """
    err = rdkafka_error_of(exc)
    where = f"{operation} on {target}" if target else operation
    if err is None:
        return error_type(f"{where} failed: {exc}")
    code = err.code()
    name = err.name()
    text = err.str()
    direct = classify_security(code, text)
    if direct is not None:
        return direct.at(where)
    if code in _UNSUPPORTED_CODES:
        return UnsupportedByBrokerError(operation, f"{name}: {text}")
    if code in UNREACHABLE_CODES:
        if client is not None:
            with contextlib.suppress(Exception):  # a closed client has nothing more to say
                client.poll(0)
        seen = recent_security_error(bootstrap)
        if seen is not None:
            return seen.at(where)
        return BrokerUnavailableError(
            f"{where}: broker unreachable ({name}: {text}); "
            "check --bootstrap / KAFKA_BOOTSTRAP_SERVERS and that the broker is running",
            code=name,
        )
    return error_type(f"{where} failed: {name}: {text}", code=name, retriable=err.retriable())


@contextlib.contextmanager
def kafka_errors(
    operation: str,
    target: str = "",
    *,
    client: Any = None,
    bootstrap: str | None = None,
    error_type: type[BrokerError] = BrokerError,
) -> Iterator[None]:
    """Translate a librdkafka exception raised inside the block by :func:`from_kafka_error`.

    ``operation`` names the call (``Metadata``, ``OffsetCommit``), ``target`` what it was made
    on; ``client`` and ``bootstrap`` let a transport error be reported as the SASL/TLS failure
    behind it. The translation is raised from the original exception.
    """
    try:
        yield
    except _RdKafkaException as exc:
        raise from_kafka_error(
            exc,
            operation=operation,
            target=target,
            error_type=error_type,
            client=client,
            bootstrap=bootstrap,
        ) from exc
