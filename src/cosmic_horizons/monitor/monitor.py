"""The monitor: one long-lived admin connection polled for the topic snapshot and group lag."""

from __future__ import annotations

import time

from ..config import KafkaSettings
from .models import GroupLag, KafkaSnapshot

__all__ = ["Monitor"]


class Monitor:
    """Polls one topic's health and every consumer group's lag over one admin connection."""

    def __init__(
        self,
        settings: KafkaSettings,
        topic: str | None = None,
        *,
        timeout: float = 5.0,
        window: int = 10,
    ) -> None:
        self.settings = settings
        self.topic = topic or settings.topic
        self.timeout = timeout
        self.window = window

    def poll(self) -> KafkaSnapshot:
        """The spec's snapshot; never raises (an unreachable broker gives ``connected=False``)."""
        return KafkaSnapshot(
            connected=False, topic=self.topic, polled_at=time.time(), error="not implemented yet"
        )

    def lag(self, group: str | None = None) -> list[GroupLag]:
        """Lag of ``group`` (all groups when None), judged over each group's sliding window."""
        return []

    def groups(self) -> list[str]:
        """Consumer group ids known to the cluster."""
        return []

    def close(self) -> None:
        """Release the admin connection."""
