"""Cosmic Horizons data plane: array telemetry into Kafka, monitored, archived and replayable.

The names in ``__all__`` are the public API (docs/library.md shows each in use); every other
module is an internal of the ``horizons`` CLI and may change without notice. The names are
imported on first use, so ``import cosmic_horizons`` itself stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .archiver.archiver import Archiver
    from .archiver.ranges import RollPolicy
    from .archiver.stats import ArchiverStats
    from .archiver.storage import ArchiveStorage
    from .config import KafkaSettings
    from .errors import (
        ArchiveError,
        AuthenticationError,
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
    from .monitor.models import GroupLag, KafkaSnapshot
    from .monitor.monitor import Monitor
    from .packet import KafkaPayload, Metrics, decode_packet, encode_packet
    from .publisher import DeliveryReport, Publisher
    from .topics.admin import TopicAdmin
    from .topics.models import TopicSpec

__version__ = "0.1.0"

# public name -> the module it lives in (relative to this package)
_SOURCES: dict[str, str] = {
    "Publisher": ".publisher",
    "DeliveryReport": ".publisher",
    "Monitor": ".monitor.monitor",
    "KafkaSnapshot": ".monitor.models",
    "GroupLag": ".monitor.models",
    "Archiver": ".archiver.archiver",
    "ArchiverStats": ".archiver.stats",
    "RollPolicy": ".archiver.ranges",
    "ArchiveStorage": ".archiver.storage",
    "TopicAdmin": ".topics.admin",
    "TopicSpec": ".topics.models",
    "KafkaSettings": ".config",
    "KafkaPayload": ".packet",
    "Metrics": ".packet",
    "encode_packet": ".packet",
    "decode_packet": ".packet",
    **dict.fromkeys(
        (
            "HorizonsError",
            "ConfigError",
            "PacketError",
            "BrokerError",
            "BrokerUnavailableError",
            "UnsupportedByBrokerError",
            "SecurityError",
            "AuthenticationError",
            "TLSError",
            "CertificateError",
            "TopicError",
            "PublishError",
            "ArchiveError",
            "StorageError",
        ),
        ".errors",
    ),
}

__all__ = [
    "ArchiveError",
    "ArchiveStorage",
    "Archiver",
    "ArchiverStats",
    "AuthenticationError",
    "BrokerError",
    "BrokerUnavailableError",
    "CertificateError",
    "ConfigError",
    "DeliveryReport",
    "GroupLag",
    "HorizonsError",
    "KafkaPayload",
    "KafkaSettings",
    "KafkaSnapshot",
    "Metrics",
    "Monitor",
    "PacketError",
    "PublishError",
    "Publisher",
    "RollPolicy",
    "SecurityError",
    "StorageError",
    "TLSError",
    "TopicAdmin",
    "TopicError",
    "TopicSpec",
    "UnsupportedByBrokerError",
    "__version__",
    "decode_packet",
    "encode_packet",
]


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(source, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
