"""The record browser: where to start reading a topic (offset, time, element), the latest
records of a partition or element, and a time window straight from Kafka."""

from .latest import BrowsedRecord, latest_records
from .positions import Start, element_partition, reader, start_positions, topic_partitions
from .window import KafkaWindowStats, kafka_window

__all__ = [
    "BrowsedRecord",
    "KafkaWindowStats",
    "Start",
    "element_partition",
    "kafka_window",
    "latest_records",
    "reader",
    "start_positions",
    "topic_partitions",
]
