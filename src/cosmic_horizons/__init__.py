"""Cosmic Horizons data plane: array telemetry into Kafka, monitored, archived and replayable.

The public API is small; everything else lives in modules named after their concept.
"""

from .config import KafkaSettings
from .errors import (
    ArchiveError,
    BrokerError,
    BrokerUnavailableError,
    ConfigError,
    HorizonsError,
    PacketError,
    PublishError,
    TopicError,
    UnsupportedByBrokerError,
)
from .packet import KafkaPayload, Metrics, decode_packet, encode_packet
from .publisher import Publisher

__version__ = "0.1.0"

__all__ = [
    "ArchiveError",
    "BrokerError",
    "BrokerUnavailableError",
    "ConfigError",
    "HorizonsError",
    "KafkaPayload",
    "KafkaSettings",
    "Metrics",
    "PacketError",
    "PublishError",
    "Publisher",
    "TopicError",
    "UnsupportedByBrokerError",
    "__version__",
    "decode_packet",
    "encode_packet",
]
