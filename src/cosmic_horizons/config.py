"""Settings from the environment, turned into librdkafka configuration.

Environment variables (all optional):

=============================  ==============================================================
``KAFKA_BOOTSTRAP_SERVERS``    bootstrap list ``host1:9092,host2:9092`` (wins over the two below)
``KAFKA_HOST``/``KAFKA_PORT``  the spec's single-broker form (port defaults to 9092)
``HORIZONS_PROFILE``           ``dev`` (default) or ``prod``: topic layout and producer durability
``HORIZONS_TOPIC``             topic name, default ``element.raw_data``
``HORIZONS_PARTITIONER``       ``java`` (default), ``kafkajs-legacy`` or ``consistent_random``
``KAFKA_SECURITY_PROTOCOL``    ``PLAINTEXT`` (default), ``SSL``, ``SASL_PLAINTEXT``, ``SASL_SSL``
``KAFKA_SASL_MECHANISM``       ``PLAIN``, ``SCRAM-SHA-256``, ``SCRAM-SHA-512``, ``OAUTHBEARER``
``KAFKA_SASL_USERNAME``        SASL user name
``KAFKA_SASL_PASSWORD``        SASL password (never printed)
``KAFKA_SSL_CA_LOCATION``      CA bundle used to verify the brokers
``KAFKA_SSL_KEY_PASSWORD``     the password of the client key (never printed)
``KAFKA_SSL_VERIFY_HOSTNAME``  ``true`` (default): the broker's certificate must name the host
=============================  ==============================================================

Also ``KAFKA_SSL_CERTIFICATE_LOCATION`` and ``KAFKA_SSL_KEY_LOCATION`` (a client certificate
and its private key, PEM, for mTLS), and for ``OAUTHBEARER`` (librdkafka's OIDC
client-credentials method) ``KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL``,
``KAFKA_SASL_OAUTHBEARER_CLIENT_ID``, ``KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET`` (never
printed) and the optional ``KAFKA_SASL_OAUTHBEARER_SCOPE``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError, client_hooks
from .packet import ENCODINGS, Encoding
from .partitioner import DEFAULT_PARTITIONER, PartitionerName, parse_partitioner

__all__ = [
    "DEFAULT_TOPIC",
    "PROFILES",
    "KafkaSettings",
    "Profile",
    "Secret",
    "mask_config",
]

DEFAULT_TOPIC = "element.raw_data"
Profile = Literal["dev", "prod"]
PROFILES: tuple[Profile, ...] = ("dev", "prod")
_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_SECRET_KEYS = frozenset({"sasl.password", "ssl.key.password", "sasl.oauthbearer.client.secret"})


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def parse_profile(value: str, *, source: str = "profile") -> Profile:
    """``dev`` or ``prod``; anything else is a :class:`ConfigError` naming ``source``."""
    lowered = value.strip().lower()
    if lowered not in PROFILES:
        raise ConfigError(f"{source}={value!r}: expected one of {', '.join(PROFILES)}")
    return lowered


def _bootstrap_from_env(env: Mapping[str, str]) -> str | None:
    full = env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if full:
        return normalize_bootstrap(full, source="KAFKA_BOOTSTRAP_SERVERS")
    host = env.get("KAFKA_HOST", "").strip()
    port = env.get("KAFKA_PORT", "").strip()
    if not host:
        if port:
            raise ConfigError(
                "KAFKA_PORT is set but KAFKA_HOST is not; set both, or KAFKA_BOOTSTRAP_SERVERS"
            )
        return None
    return normalize_bootstrap(f"{host}:{port or '9092'}", source="KAFKA_HOST/KAFKA_PORT")


def normalize_bootstrap(value: str, *, source: str = "--bootstrap") -> str:
    """Check a ``host:port[,host:port...]`` list and return it without spaces."""
    servers = [s.strip() for s in value.split(",") if s.strip()]
    if not servers:
        raise ConfigError(f"{source}: empty bootstrap server list")
    for server in servers:
        host, sep, port = server.rpartition(":")
        if not sep or not host:
            raise ConfigError(f"{source}: {server!r} is not host:port")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{source}: port {port!r} of {server!r} is not a TCP port")
    return ",".join(servers)


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """Where the cluster is and how to talk to it.

    ``bootstrap_servers`` is None when nothing is configured: ``horizons up`` then starts the
    embedded broker, and every other command asks for ``--bootstrap``.
    """

    bootstrap_servers: str | None = None
    profile: Profile = "dev"
    topic: str = DEFAULT_TOPIC
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: Secret | None = field(default=None, repr=True)
    ssl_ca_location: str | None = None
    partitioner: PartitionerName = DEFAULT_PARTITIONER
    """How the publisher places keys: as the topic's other producers do (see ``partitioner``)."""
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: Secret | None = None
    ssl_verify_hostname: bool = True
    oauthbearer_token_endpoint_url: str | None = None
    oauthbearer_client_id: str | None = None
    oauthbearer_client_secret: Secret | None = None
    oauthbearer_scope: str | None = None
    encoding: Encoding = "json"
    """How the publisher writes packets: the spec's ``json``, or ``binary`` (raw chunk bytes)."""

    def __post_init__(self) -> None:
        # Kafka's names are upper case; `scram-sha-256` means the same mechanism.
        object.__setattr__(self, "security_protocol", self.security_protocol.strip().upper())
        if self.sasl_mechanism is not None:
            object.__setattr__(self, "sasl_mechanism", self.sasl_mechanism.strip().upper() or None)
        if self.security_protocol not in _SECURITY_PROTOCOLS:
            raise ConfigError(
                f"KAFKA_SECURITY_PROTOCOL={self.security_protocol!r}: expected one of "
                + ", ".join(_SECURITY_PROTOCOLS)
            )
        if self.sasl_mechanism is not None and self.sasl_mechanism not in _SASL_MECHANISMS:
            raise ConfigError(
                f"KAFKA_SASL_MECHANISM={self.sasl_mechanism!r}: expected one of "
                + ", ".join(_SASL_MECHANISMS)
            )
        sasl = self.security_protocol.startswith("SASL")
        oauth = self.sasl_mechanism == "OAUTHBEARER"
        if sasl and oauth:
            missing = [
                name
                for name, value in (
                    (
                        "KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL",
                        self.oauthbearer_token_endpoint_url,
                    ),
                    ("KAFKA_SASL_OAUTHBEARER_CLIENT_ID", self.oauthbearer_client_id),
                    ("KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET", self.oauthbearer_client_secret),
                )
                if not value
            ]
            if missing:
                raise ConfigError(f"KAFKA_SASL_MECHANISM=OAUTHBEARER needs {', '.join(missing)}")
        elif sasl and not (self.sasl_username and self.sasl_password):
            raise ConfigError(
                f"KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs KAFKA_SASL_USERNAME "
                "and KAFKA_SASL_PASSWORD"
            )
        given = [
            name
            for name, value in (
                ("KAFKA_SASL_MECHANISM", self.sasl_mechanism),
                ("KAFKA_SASL_USERNAME", self.sasl_username),
                ("KAFKA_SASL_PASSWORD", self.sasl_password),
            )
            if value
        ]
        if given and not sasl:
            raise ConfigError(
                f"{', '.join(given)} set but KAFKA_SECURITY_PROTOCOL={self.security_protocol} "
                "does not use SASL; set KAFKA_SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT), "
                "or unset the SASL variables"
            )
        if self.ssl_ca_location is not None and not Path(self.ssl_ca_location).is_file():
            raise ConfigError(
                f"KAFKA_SSL_CA_LOCATION={self.ssl_ca_location!r}: no such file "
                "(a PEM bundle of the CAs that signed the brokers' certificates)"
            )
        for name, value in (
            ("KAFKA_SSL_CERTIFICATE_LOCATION", self.ssl_certificate_location),
            ("KAFKA_SSL_KEY_LOCATION", self.ssl_key_location),
        ):
            if value is not None and not Path(value).is_file():
                raise ConfigError(f"{name}={value!r}: no such file (a PEM file)")
        if bool(self.ssl_certificate_location) != bool(self.ssl_key_location):
            raise ConfigError(
                "KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION go together "
                "(a client certificate and its private key); set both or neither"
            )
        tls = self.security_protocol in ("SSL", "SASL_SSL")
        if self.ssl_certificate_location and not tls:
            raise ConfigError(
                f"KAFKA_SSL_CERTIFICATE_LOCATION set but KAFKA_SECURITY_PROTOCOL="
                f"{self.security_protocol} does not use TLS; set SSL or SASL_SSL"
            )
        if not self.topic:
            raise ConfigError("HORIZONS_TOPIC: empty topic name")
        if self.encoding not in ENCODINGS:
            raise ConfigError(
                f"HORIZONS_ENCODING={self.encoding!r}: expected {' or '.join(ENCODINGS)}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSettings:
        """Read the settings from ``env`` (default: the process environment)."""
        e = os.environ if env is None else env
        password = e.get("KAFKA_SASL_PASSWORD")
        key_password = e.get("KAFKA_SSL_KEY_PASSWORD")
        client_secret = e.get("KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET")

        def opt(name: str) -> str | None:
            return e.get(name, "").strip() or None

        return cls(
            bootstrap_servers=_bootstrap_from_env(e),
            profile=parse_profile(e.get("HORIZONS_PROFILE", "dev"), source="HORIZONS_PROFILE"),
            topic=e.get("HORIZONS_TOPIC", DEFAULT_TOPIC).strip() or DEFAULT_TOPIC,
            security_protocol=e.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").strip().upper(),
            sasl_mechanism=(e.get("KAFKA_SASL_MECHANISM", "").strip().upper() or None),
            sasl_username=(e.get("KAFKA_SASL_USERNAME") or None),
            sasl_password=Secret(password) if password else None,
            ssl_ca_location=(e.get("KAFKA_SSL_CA_LOCATION", "").strip() or None),
            partitioner=parse_partitioner(
                e.get("HORIZONS_PARTITIONER") or DEFAULT_PARTITIONER,
                source="HORIZONS_PARTITIONER",
            ),
            ssl_certificate_location=opt("KAFKA_SSL_CERTIFICATE_LOCATION"),
            ssl_key_location=opt("KAFKA_SSL_KEY_LOCATION"),
            ssl_key_password=Secret(key_password) if key_password else None,
            ssl_verify_hostname=_parse_bool(
                e.get("KAFKA_SSL_VERIFY_HOSTNAME", "true"), "KAFKA_SSL_VERIFY_HOSTNAME"
            ),
            oauthbearer_token_endpoint_url=opt("KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL"),
            oauthbearer_client_id=opt("KAFKA_SASL_OAUTHBEARER_CLIENT_ID"),
            oauthbearer_client_secret=Secret(client_secret) if client_secret else None,
            oauthbearer_scope=opt("KAFKA_SASL_OAUTHBEARER_SCOPE"),
            encoding=(opt("HORIZONS_ENCODING") or "json").lower(),  # type: ignore[arg-type]
        )

    def with_overrides(
        self,
        *,
        bootstrap: str | None = None,
        topic: str | None = None,
        profile: str | None = None,
        partitioner: str | None = None,
        encoding: str | None = None,
    ) -> KafkaSettings:
        """A copy with command-line overrides applied (None leaves a value as it is)."""
        changed = self
        if encoding:
            if encoding not in ENCODINGS:
                raise ConfigError(f"--encoding {encoding}: expected {' or '.join(ENCODINGS)}")
            changed = replace(changed, encoding=encoding)
        if partitioner:
            changed = replace(
                changed, partitioner=parse_partitioner(partitioner, source="--partitioner")
            )
        if bootstrap:
            changed = replace(changed, bootstrap_servers=normalize_bootstrap(bootstrap))
        if topic:
            changed = replace(changed, topic=topic)
        if profile:
            changed = replace(changed, profile=parse_profile(profile, source="--profile"))
        return changed

    def require_bootstrap(self) -> str:
        if not self.bootstrap_servers:
            raise ConfigError(
                "no Kafka configured: pass --bootstrap HOST:PORT or set KAFKA_BOOTSTRAP_SERVERS "
                "(or KAFKA_HOST and KAFKA_PORT); `horizons broker` starts a local one"
            )
        return self.bootstrap_servers

    def client_config(self, client_id: str = "cosmic-horizons") -> dict[str, Any]:
        """The librdkafka settings shared by producers, consumers and admin clients.

        They include an ``error_cb`` and a ``logger`` (``errors.client_hooks``): librdkafka's
        own log goes to the ``cosmic_horizons.librdkafka`` logger at debug
        level, and SASL/TLS failures are remembered so that errors name them.
        """
        conf: dict[str, Any] = {
            "bootstrap.servers": self.require_bootstrap(),
            "client.id": client_id,
            "security.protocol": self.security_protocol,
            **client_hooks(self.require_bootstrap()),
        }
        given: dict[str, str | Secret | None] = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": self.ssl_key_password,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            conf["ssl.endpoint.identification.algorithm"] = (
                "https" if self.ssl_verify_hostname else "none"
            )
        if self.sasl_mechanism == "OAUTHBEARER":
            conf["sasl.oauthbearer.method"] = "oidc"
            given |= {
                "sasl.oauthbearer.token.endpoint.url": self.oauthbearer_token_endpoint_url,
                "sasl.oauthbearer.client.id": self.oauthbearer_client_id,
                "sasl.oauthbearer.client.secret": self.oauthbearer_client_secret,
                "sasl.oauthbearer.scope": self.oauthbearer_scope,
            }
        for key, value in given.items():  # only what is set
            if value:
                conf[key] = value.reveal() if isinstance(value, Secret) else value
        return conf


def _parse_bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r}: expected true or false")


def mask_config(conf: Mapping[str, object]) -> dict[str, object]:
    """A copy of a librdkafka dict that is safe to log: secrets become ``********``."""
    return {k: ("********" if k in _SECRET_KEYS else v) for k, v in conf.items()}
