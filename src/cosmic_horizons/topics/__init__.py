"""Topics as "desired vs actual": specs per profile, diffing, and the admin operations."""

from .admin import ConfigChange, EnsureResult, TopicAdmin, delete_records_before
from .diff import ConfigDrift, PartitionPlacement, TopicDiff, TopicState, diff_topic
from .models import TopicSpec, desired_topic, dlq_topic_name
from .summary import TopicSummary, summarize_topic

__all__ = [
    "ConfigChange",
    "ConfigDrift",
    "EnsureResult",
    "PartitionPlacement",
    "TopicAdmin",
    "TopicDiff",
    "TopicSpec",
    "TopicState",
    "TopicSummary",
    "delete_records_before",
    "desired_topic",
    "diff_topic",
    "dlq_topic_name",
    "summarize_topic",
]
