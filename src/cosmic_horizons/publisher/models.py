"""What a publisher raises and what it reports when it ends."""

from __future__ import annotations

import msgspec

from ..errors import TopicError

__all__ = ["DeliveryReport", "TopicMissingError"]


class TopicMissingError(TopicError):
    """The topic to publish to does not exist; project producers never create it."""

    def __init__(self, topic: str, bootstrap: str) -> None:
        super().__init__(
            f"topic {topic!r} does not exist on {bootstrap}; create it with "
            f"`horizons topics ensure --topic {topic}` (publishers never auto-create topics)",
            code="UNKNOWN_TOPIC_OR_PART",
        )
        self.topic = topic


class DeliveryReport(msgspec.Struct, frozen=True, kw_only=True):
    """How a publisher ended: what was delivered, failed, and left undelivered at close."""

    sent: int
    delivered: int
    failed: int
    undelivered_at_close: int
    """Packets still queued when the flush timeout ran out (also counted in ``failed``
    without a spool; with one they stay spooled and are not failed)."""
    spooled: int = 0
    """Packets left in the spool at close: not lost, delivered by the next run or
    ``horizons spool drain``."""
    spool_path: str | None = None
    dropped: int = 0
    """Packets the spool's drop-oldest policy dropped unsent."""

    @property
    def complete(self) -> bool:
        return self.failed == 0 and self.dropped == 0 and self.delivered == self.sent

    @property
    def kept(self) -> bool:
        """Nothing lost: every packet delivered or still in the spool."""
        return self.failed == 0 and self.dropped == 0
