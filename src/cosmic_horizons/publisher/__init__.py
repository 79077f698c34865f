"""The spec's ``MessagingIntegrationService``: :class:`Publisher`, one long-lived producer
for array packets, optionally a store-and-forward node with a spool on disk.

Modules: :mod:`.core` (the publisher), :mod:`.encoding` (record values), :mod:`.shutdown`
(its close and report), :mod:`.careful` (its patient path without a spool),
:mod:`.forward` (store and forward: live sending, the drain), :mod:`.blocks` (acknowledging a
block of records with one callback), :mod:`.diagnose` (why deliveries stalled),
:mod:`.models` (its report and errors).
"""

from __future__ import annotations

from ..clients import CLIENT_ID, producer_config
from . import core, metadata
from .core import Publisher
from .forward import SpoolView
from .metadata import METADATA_REFRESH_S
from .models import DeliveryReport, TopicMissingError
from .watch import STALL_REPORT_S

__all__ = [
    "CLIENT_ID",
    "METADATA_REFRESH_S",
    "STALL_REPORT_S",
    "DeliveryReport",
    "Publisher",
    "SpoolView",
    "TopicMissingError",
    "core",
    "metadata",
    "producer_config",
]
