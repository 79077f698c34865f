"""Disk usage per topic, partition, broker and log directory (Kafka's DescribeLogDirs).

confluent-kafka does not expose DescribeLogDirs; kafka-python's admin client does, so this
module (and only this one) talks to the brokers through kafka-python. It takes the project's
:class:`~cosmic_horizons.config.KafkaSettings` (one mapping, :func:`kafka_python_config`) and
raises this project's errors (:func:`translate_kafka_python_error`)::

    usage = describe_log_dirs(settings, topics=["element.raw_data"])
    usage.by_broker()            # {broker id: bytes on its disks}
    usage.partition_bytes()      # {(topic, partition): bytes of its largest replica}

A broker without the API (it answers UnsupportedVersion, or leaves DescribeLogDirs out of its
ApiVersions) raises :class:`~cosmic_horizons.errors.UnsupportedByBrokerError`.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import errors
from ..config import KafkaSettings

__all__ = [
    "DiskUsage",
    "LogDirUsage",
    "ReplicaUsage",
    "describe_log_dirs",
    "kafka_python_config",
    "parse_log_dirs",
    "translate_kafka_python_error",
]

OPERATION = "DescribeLogDirs"
#: DescribeLogDirs v4+ reports a log dir's capacity; older answers carry -1 there.
_UNKNOWN = -1


@dataclass(frozen=True, slots=True)
class ReplicaUsage:
    """One replica of one partition, on one broker, in one log directory."""

    topic: str
    partition: int
    broker: int
    log_dir: str
    size_bytes: int
    #: How far this replica is behind the partition's high watermark (or a future replica
    #: behind the current one), in records; 0 for a leader.
    offset_lag: int = 0
    #: A replica being moved into this log dir (AlterReplicaLogDirs), not yet current.
    is_future: bool = False


@dataclass(frozen=True, slots=True)
class LogDirUsage:
    """One log directory of one broker: its error (if any) and its capacity when reported."""

    broker: int
    log_dir: str
    error: str | None = None
    total_bytes: int | None = None
    usable_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """What DescribeLogDirs reported: every replica and every log directory."""

    replicas: tuple[ReplicaUsage, ...]
    log_dirs: tuple[LogDirUsage, ...]

    @property
    def total_bytes(self) -> int:
        """Bytes of every current replica (future replicas not counted)."""
        return sum(r.size_bytes for r in self.current())

    def current(self) -> Iterator[ReplicaUsage]:
        return (r for r in self.replicas if not r.is_future)

    def by_broker(self) -> dict[int, int]:
        """Bytes per broker (every replica it holds, every log dir)."""
        out: dict[int, int] = defaultdict(int)
        for d in self.log_dirs:
            out[d.broker] += 0
        for r in self.current():
            out[r.broker] += r.size_bytes
        return dict(sorted(out.items()))

    def by_topic(self) -> dict[str, int]:
        """Bytes per topic, over all its replicas (so RF 3 counts three copies)."""
        out: dict[str, int] = defaultdict(int)
        for r in self.current():
            out[r.topic] += r.size_bytes
        return dict(sorted(out.items()))

    def partition_bytes(self) -> dict[tuple[str, int], int]:
        """Bytes of one copy of each partition: its largest current replica."""
        out: dict[tuple[str, int], int] = {}
        for r in self.current():
            key = (r.topic, r.partition)
            out[key] = max(out.get(key, 0), r.size_bytes)
        return dict(sorted(out.items()))

    def for_topics(self, names: Iterable[str]) -> DiskUsage:
        """Only the replicas of ``names`` (log dirs kept: they are the brokers' disks)."""
        wanted = set(names)
        return DiskUsage(
            tuple(r for r in self.replicas if r.topic in wanted),
            self.log_dirs,
        )


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


def parse_log_dirs(responses: Sequence[Mapping[str, Any]]) -> DiskUsage:
    """A :class:`DiskUsage` from kafka-python's answer: ``[{"broker", "log_dirs": [...]}]``."""
    from kafka.errors import for_code

    replicas: list[ReplicaUsage] = []
    dirs: list[LogDirUsage] = []
    for answer in responses:
        broker = int(answer["broker"])
        for d in answer.get("log_dirs") or ():
            path = str(d.get("log_dir", ""))
            code = int(d.get("error_code", 0))
            total = int(d.get("total_bytes", _UNKNOWN))
            usable = int(d.get("usable_bytes", _UNKNOWN))
            dirs.append(
                LogDirUsage(
                    broker=broker,
                    log_dir=path,
                    error=None if code == 0 else for_code(code).__name__,
                    total_bytes=None if total < 0 else total,
                    usable_bytes=None if usable < 0 else usable,
                )
            )
            for t in d.get("topics") or ():
                for p in t.get("partitions") or ():
                    replicas.append(
                        ReplicaUsage(
                            topic=str(t["name"]),
                            partition=int(p["partition_index"]),
                            broker=broker,
                            log_dir=path,
                            size_bytes=int(p["partition_size"]),
                            offset_lag=int(p.get("offset_lag", 0)),
                            is_future=bool(p.get("is_future_key", False)),
                        )
                    )
    replicas.sort(key=lambda r: (r.topic, r.partition, r.broker, r.log_dir))
    dirs.sort(key=lambda d: (d.broker, d.log_dir))
    return DiskUsage(tuple(replicas), tuple(dirs))


def describe_log_dirs(
    settings: KafkaSettings,
    topics: Sequence[str] | None = None,
    *,
    brokers: Sequence[int] | None = None,
    timeout_s: float = 10.0,
) -> DiskUsage:
    """Ask every broker (or ``brokers``) for its log dirs; only ``topics`` when given.

    A topic in ``topics`` that does not exist raises :class:`~cosmic_horizons.errors.TopicError`
    (code ``UNKNOWN_TOPIC_OR_PART``).
    """
    conf = kafka_python_config(settings, timeout_s=timeout_s)
    target = settings.require_bootstrap()
    secrets = [str(conf.get(k) or "") for k in ("sasl_plain_password", "ssl_password")]
    with _kafka_python_errors(OPERATION, target, secrets) as seen:
        admin = _connect(conf, seen, timeout_s)
        seen.clear()
        try:
            if topics:
                _require_topics(admin, topics)
            answer = admin.describe_log_dirs(
                topic_partitions=list(topics) if topics else None,
                brokers=list(brokers) if brokers is not None else None,
            )
        finally:
            admin.close()
    usage = parse_log_dirs(answer)
    return usage.for_topics(topics) if topics else usage


#: The first bootstrap attempt (each next one twice as long): kafka-python retries a refused
#: login until its timeout, so short attempts let a SASL/TLS failure end the command early
#: instead of after ``timeout_s``, and longer ones still let a slow handshake finish.
_ATTEMPT_S = 2.0


def _connect(conf: dict[str, Any], seen: _SeenFailures, timeout_s: float) -> Any:
    """A bootstrapped kafka-python admin client; stops at the first SASL/TLS failure."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaTimeoutError

    deadline = time.monotonic() + timeout_s
    attempt_s = _ATTEMPT_S
    while True:
        left = deadline - time.monotonic()
        attempt = {**conf, "bootstrap_timeout_ms": int(1000 * max(0.5, min(attempt_s, left)))}
        attempt_s *= 2
        admin = KafkaAdminClient.__new__(KafkaAdminClient)
        try:
            admin.__init__(**attempt)
            return admin
        except KafkaTimeoutError:
            _stop_half_built(admin)
            if seen.security_failure() is not None or time.monotonic() >= deadline:
                raise
        except BaseException:
            _stop_half_built(admin)
            raise


def _stop_half_built(admin: Any) -> None:
    """Stop the IO thread of a client whose bootstrap failed (its close() would not)."""
    net = getattr(admin, "_net", None)
    if net is not None:
        with contextlib.suppress(Exception):
            net.stop()


def _require_topics(admin: Any, topics: Sequence[str]) -> None:
    known = set(admin.list_topics())
    missing = [t for t in topics if t not in known]
    if missing:
        raise errors.TopicError(
            f"{OPERATION} on {', '.join(missing)}: no such topic", code="UNKNOWN_TOPIC_OR_PART"
        )


# -- errors ------------------------------------------------------------------------------


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
