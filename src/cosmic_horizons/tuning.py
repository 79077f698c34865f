"""Broker tuning as desired vs actual: the spec's Performance Tuning table as data.

``TUNING`` holds the table (dev default, prod recommended, purpose); a prod range such as
``8-16`` keeps its minimum and maximum. :func:`compare` judges a broker's configs against a
profile; :func:`describe_broker_configs` reads them (DescribeConfigs on each broker);
:func:`server_properties` renders the recommended settings for ``server.properties``.
``BROKER_SETTINGS`` are the other broker settings the files under ``deploy/`` set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import msgspec

# confluent_kafka.admin re-exports these without listing them in __all__.
from confluent_kafka.admin import ConfigResource, ResourceType  # type: ignore[attr-defined]

from ._units import parse_duration, parse_size
from .cluster import make_admin
from .config import KafkaSettings, Profile
from .errors import (
    BrokerUnavailableError,
    ConfigError,
    UnsupportedByBrokerError,
    kafka_errors,
)

__all__ = [
    "BROKER_SETTINGS",
    "TUNING",
    "Desired",
    "Status",
    "TuningCheck",
    "TuningParameter",
    "compare",
    "describe_broker_configs",
    "parse_value",
    "recommended_settings",
    "server_properties",
]

Status = Literal["ok", "below", "above", "unknown"]
Unit = Literal["threads", "bytes", "ms", "messages"]

#: Kafka's default for ``log.flush.interval.messages``: never flush by count (the OS does).
_LONG_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Desired:
    """An exact value (``low == high``) or an inclusive range."""

    low: int
    high: int

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ConfigError(f"desired range {self.low}-{self.high} is empty")

    @property
    def text(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"

    @property
    def recommended(self) -> int:
        """The value the deploy files set: the exact value, or the range's minimum."""
        return self.low


@dataclass(frozen=True, slots=True)
class TuningParameter:
    """One row of the spec's Performance Tuning table."""

    name: str
    unit: Unit
    dev: Desired
    prod: Desired
    purpose: str

    def desired(self, profile: Profile) -> Desired:
        return self.dev if profile == "dev" else self.prod


def _exact(value: int) -> Desired:
    return Desired(value, value)


TUNING: tuple[TuningParameter, ...] = (
    TuningParameter(
        "num.network.threads", "threads", _exact(3), Desired(8, 16), "Network I/O threads"
    ),
    TuningParameter("num.io.threads", "threads", _exact(8), Desired(16, 32), "Disk I/O threads"),
    TuningParameter(
        "socket.send.buffer.bytes", "bytes", _exact(102400), _exact(524288), "TCP send buffer"
    ),
    TuningParameter(
        "socket.receive.buffer.bytes", "bytes", _exact(102400), _exact(524288), "TCP receive buffer"
    ),
    TuningParameter(
        "log.flush.interval.messages", "messages", _exact(10000), _exact(100000), "Batch write size"
    ),
    TuningParameter(
        "replica.lag.time.max.ms", "ms", _exact(10000), _exact(30000), "Replica failure detection"
    ),
)

_GIB = 1024**3

#: Broker settings beyond the tuning table, from the spec's docker-compose and kafka-values.
#: Topics are created by ``horizons topics ensure``, never by the broker on first use.
BROKER_SETTINGS: Mapping[Profile, Mapping[str, str]] = MappingProxyType(
    {
        "dev": MappingProxyType(
            {
                "auto.create.topics.enable": "false",
                "num.partitions": "1",
                "default.replication.factor": "1",
                "min.insync.replicas": "1",
                "offsets.topic.replication.factor": "1",
                "transaction.state.log.replication.factor": "1",
                "transaction.state.log.min.isr": "1",
                "log.retention.hours": "168",
                "log.retention.bytes": str(100 * _GIB),
                "compression.type": "snappy",
            }
        ),
        "prod": MappingProxyType(
            {
                "auto.create.topics.enable": "false",
                "num.partitions": "3",
                "default.replication.factor": "3",
                "min.insync.replicas": "2",
                "offsets.topic.replication.factor": "3",
                "transaction.state.log.replication.factor": "3",
                "transaction.state.log.min.isr": "2",
                "log.retention.hours": "168",
                "log.retention.bytes": str(1024 * _GIB),
                "log.segment.bytes": str(_GIB),
                "compression.type": "snappy",
                "socket.request.max.bytes": "104857600",
            }
        ),
    }
)


class TuningCheck(msgspec.Struct, frozen=True, kw_only=True):
    """One parameter of one broker: desired vs actual and the verdict."""

    name: str
    desired: str
    actual: str | None
    status: Status
    purpose: str
    note: str | None = None


def parse_value(parameter: TuningParameter, text: str) -> int:
    """``text`` as an integer in the parameter's unit (``512KiB`` bytes, ``30s`` as ms).

    Raises :class:`ConfigError` naming the parameter and the value when it is not a number.
    """
    raw = text.strip()
    if raw.lstrip("-").isdigit():
        return int(raw)
    what = f"{parameter.name}={text!r}"
    if parameter.unit == "bytes":
        return parse_size(raw, what=what)
    if parameter.unit == "ms":
        return round(parse_duration(raw, what=what, default_unit="ms") * 1000)
    raise ConfigError(f"{what}: expected a whole number of {parameter.unit}")


def _check(parameter: TuningParameter, profile: Profile, actual: str | None) -> TuningCheck:
    desired = parameter.desired(profile)

    def verdict(status: Status, note: str | None = None) -> TuningCheck:
        return TuningCheck(
            name=parameter.name,
            desired=desired.text,
            actual=actual,
            status=status,
            purpose=parameter.purpose,
            note=note,
        )

    if actual is None or not actual.strip():
        return verdict("unknown", "the broker did not report this parameter")
    try:
        value = parse_value(parameter, actual)
    except ConfigError as exc:
        return verdict("unknown", str(exc))
    if value == -1 and parameter.unit == "bytes":
        return verdict("unknown", "-1: the operating system's default size")
    note = "Kafka's default: flushing left to the OS" if value == _LONG_MAX else None
    if value < desired.low:
        return verdict("below", note)
    if value > desired.high:
        return verdict("above", note)
    return verdict("ok", note)


def compare(configs: Mapping[str, str | None], profile: Profile) -> list[TuningCheck]:
    """Each tuning parameter of one broker's ``configs`` judged against ``profile``.

    A parameter missing from ``configs``, empty, or not a number is ``unknown`` (with a note
    saying why); values may carry units (``512KiB``, ``30s``).
    """
    return [_check(p, profile, configs.get(p.name)) for p in TUNING]


def recommended_settings(profile: Profile) -> dict[str, str]:
    """Every broker setting the profile recommends: ``BROKER_SETTINGS`` then ``TUNING``."""
    settings = dict(BROKER_SETTINGS[profile])
    settings.update({p.name: str(p.desired(profile).recommended) for p in TUNING})
    return settings


def server_properties(profile: Profile) -> str:
    """The recommended settings as ``server.properties`` lines, each tuning row explained."""
    lines = [
        f"# Cosmic Horizons broker settings, {profile} profile",
        "# (horizons broker-config --print; listeners, node ids and log.dirs are per broker)",
    ]
    lines += [f"{name}={value}" for name, value in BROKER_SETTINGS[profile].items()]
    lines.append("# Performance Tuning (the spec's table)")
    for p in TUNING:
        desired = p.desired(profile)
        span = "" if desired.low == desired.high else f", recommended {desired.text}"
        lines.append(f"# {p.purpose} ({p.unit}{span})")
        lines.append(f"{p.name}={desired.recommended}")
    return "\n".join(lines) + "\n"


def describe_broker_configs(
    settings: KafkaSettings, *, timeout: float = 10.0
) -> dict[int, dict[str, str | None]]:
    """Each broker's configs by broker id: DescribeConfigs on the BROKER resource of every broker.

    Raises :class:`BrokerUnavailableError` when no broker answers, and
    :class:`UnsupportedByBrokerError` when a broker refuses the request or answers it with no
    configs at all (a broker that does not report its own configuration).
    """
    bootstrap = settings.require_bootstrap()
    admin = make_admin(settings, timeout_ms=int(timeout * 1000))
    with kafka_errors("Metadata", bootstrap, client=admin, bootstrap=bootstrap):
        metadata = admin.list_topics(timeout=timeout)
    if not metadata.brokers:
        raise BrokerUnavailableError(f"the cluster at {bootstrap} listed no brokers")
    configs: dict[int, dict[str, str | None]] = {}
    for broker_id in sorted(metadata.brokers):
        resource = ConfigResource(ResourceType.BROKER, str(broker_id))
        future = admin.describe_configs([resource], request_timeout=timeout)[resource]
        with kafka_errors("DescribeConfigs (BROKER)", f"broker {broker_id}"):
            entries = future.result(timeout + 5)
        if not entries:
            raise UnsupportedByBrokerError(
                "DescribeConfigs for brokers",
                f"an empty config list for broker {broker_id}",
            )
        configs[broker_id] = {name: entry.value for name, entry in entries.items()}
    return configs
