"""Dead letters: records that are not packets, sent to ``<topic>.dlq`` before their file.

A dead letter is the record as it came (key, value, headers) plus headers naming the
validation error and where the record came from. :meth:`DeadLetters.send` returns only
once every dead letter of a range is acknowledged by the broker, or raises: the
archiver stores the range's file, and commits it, only after that.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException, Message, Producer

from ..clients import producer_config
from ..config import KafkaSettings
from ..errors import ArchiveError, PacketError
from ..topics.admin import TopicAdmin
from ..topics.models import desired_topic

__all__ = ["DeadLetter", "DeadLetters", "dead_letter"]

log = logging.getLogger(__name__)

#: Longest ``error`` header: an error may quote the bad field, which can be huge.
MAX_ERROR_CHARS: Final = 1000

Headers = list[tuple[str, str | bytes | None]]


@dataclass(slots=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: Headers
    own: Headers
    """The headers naming the error and the source (the last ones of ``headers``)."""
    stripped: bool = False
    """The record itself was left out (too large for the dead-letter topic)."""

    def without_record(self, topic: str) -> DeadLetter:
        """Only the error and source headers: for a record too large for ``topic``."""
        original = self.headers[: len(self.headers) - len(self.own)]
        size = len(self.key or b"") + len(self.value or b"")
        size += sum(len(k) + len(v or b"") for k, v in original)
        note = f"the record's key, value and headers ({size} bytes) are too large for {topic}"
        return DeadLetter(
            None, None, [*self.own, ("error.dropped", note.encode())], self.own, stripped=True
        )


def dead_letter(
    topic: str, msg: Message, key: bytes | None, value: bytes | None, ts: int, exc: PacketError
) -> DeadLetter:
    """The record as it came, with headers naming the error and where it came from."""
    original = msg.headers() or []
    headers: Headers = list(original.items() if isinstance(original, dict) else original)
    error = str(exc)
    if len(error) > MAX_ERROR_CHARS:
        error = f"{error[:MAX_ERROR_CHARS]}... ({len(error)} characters)"
    own: Headers = [
        ("error", error.encode()),
        ("error.field", exc.field.encode()),
        ("source.topic", topic.encode()),
        ("source.partition", str(msg.partition()).encode()),
        ("source.offset", str(msg.offset()).encode()),
        ("source.timestamp", str(ts).encode()),
    ]
    return DeadLetter(key, value, headers + own, own)


class DeadLetters:
    """The dead-letter topic of ``topic`` and an idempotent producer for it."""

    def __init__(self, settings: KafkaSettings, dlq_topic: str) -> None:
        self.settings = settings
        self.topic = settings.topic
        self.dlq_topic = dlq_topic
        self._producer: Producer | None = None

    def open(self) -> None:
        """Create the dead-letter topic with the main topic's layout when it is missing."""
        result = TopicAdmin(self.settings).ensure(
            desired_topic(self.settings.profile, self.dlq_topic)
        )
        if result.created:
            log.info("created dead-letter topic %s", self.dlq_topic)

    def start(self) -> None:
        self._producer = Producer(producer_config(self.settings, "dead-letter"))

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None

    def send(self, dead: Sequence[DeadLetter], partition: int, start: int, end: int) -> None:
        """Produce and flush the dead letters of offsets ``start..end``; raise unless all
        were delivered."""
        producer = self._producer
        if producer is None:
            raise ArchiveError("the dead-letter producer is not running")
        failures: list[str] = []
        too_large: list[DeadLetter] = []

        def send(d: DeadLetter) -> None:
            def delivered(err: RdKafkaError | None, _msg: Message) -> None:
                if err is None:
                    return
                if err.code() == RdKafkaError.MSG_SIZE_TOO_LARGE and not d.stripped:
                    too_large.append(d)
                else:
                    failures.append(f"{err.name()}: {err.str()}")

            while True:
                try:
                    producer.produce(
                        self.dlq_topic, d.value, d.key, headers=d.headers, on_delivery=delivered
                    )
                    return
                except BufferError:
                    producer.poll(0.05)
                except KafkaException as exc:
                    if exc.args[0].code() != RdKafkaError.MSG_SIZE_TOO_LARGE or d.stripped:
                        raise
                    d = d.without_record(self.dlq_topic)

        for d in dead:
            send(d)
        remaining = producer.flush(60)
        if too_large and not remaining:  # the broker refused them: send them without the record
            for d in too_large:
                send(d.without_record(self.dlq_topic))
            remaining = producer.flush(60)
        if remaining or failures:
            reason = failures[0] if failures else f"{remaining} still queued after 60 s"
            raise ArchiveError(
                f"dead letters of {self.topic} partition {partition} offsets {start}-{end} "
                f"could not be delivered to {self.dlq_topic} ({reason}); nothing was committed"
            )
