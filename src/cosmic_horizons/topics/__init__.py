"""Topics as "desired vs actual": specs per profile, diffing, and the admin operations."""

from .models import TopicSpec, desired_topic, dlq_topic_name

__all__ = ["TopicSpec", "desired_topic", "dlq_topic_name"]
