"""``/metrics``: Prometheus text built from the API's cached state at scrape time.

Lag and offsets use kafka-lag-exporter's names and labels (``cluster_name``, ``group``,
``topic``, ``partition``), so its Grafana dashboards and alerts work unchanged. Everything
else is ``horizons_*``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..array_view import HEALTH_ORDER
from ..monitor.models import LAG_STATUSES
from ..stats import SpoolStats
from .state import ApiState

__all__ = ["HorizonsCollector", "make_registry", "render_metrics"]

_NAME_SAFE = re.compile(r"[^a-zA-Z0-9_]")


class HorizonsCollector(Collector):
    """Reads :class:`ApiState` (never the broker) and yields every metric family."""

    def __init__(self, state: ApiState) -> None:
        self.state = state

    def describe(self) -> Iterable[Metric]:
        return []  # families depend on the state; nothing to collect at registration

    def collect(self) -> Iterator[Metric]:
        yield from self._snapshot()
        yield from self._lag()
        yield from self._publisher()
        yield from self._array()
        yield from self._extra()

    def _snapshot(self) -> Iterator[Metric]:
        snap = self.state.cache.snapshot
        cluster = self.state.cluster_name
        connected = GaugeMetricFamily(
            "horizons_kafka_connected", "1 when the broker answered the last poll, else 0"
        )
        connected.add_metric([], 1.0 if snap is not None and snap.connected else 0.0)
        yield connected
        if snap is None or not snap.connected:
            return
        if snap.latency_ms is not None:
            yield GaugeMetricFamily(
                "horizons_kafka_latency_ms",
                "Round-trip time of the last metadata request, milliseconds",
                value=snap.latency_ms,
            )
        if snap.brokers is not None:
            yield GaugeMetricFamily(
                "horizons_kafka_brokers", "Brokers in the cluster", value=len(snap.brokers)
            )
        per_topic = (
            ("horizons_kafka_latest_offset", "Sum of the partitions' high watermarks (the spec's "
             "latestOffset)", snap.latest_offset),
            ("horizons_kafka_partitions", "Partitions of the topic", snap.partitions),
            ("horizons_kafka_under_replicated_partitions", "Partitions whose ISR is smaller "
             "than their replica set", snap.under_replicated_partitions),
            ("horizons_kafka_retention_ms", "Topic retention.ms", snap.retention_ms),
            ("horizons_kafka_retention_bytes", "Topic retention.bytes", snap.retention_bytes),
        )  # fmt: skip
        for name, doc, value in per_topic:
            if value is not None:
                fam = GaugeMetricFamily(name, doc, labels=["topic"])
                fam.add_metric([snap.topic], float(value))
                yield fam
        latest = GaugeMetricFamily(
            "kafka_partition_latest_offset",
            "Latest offset (high watermark) of a partition",
            labels=["cluster_name", "topic", "partition"],
        )
        earliest = GaugeMetricFamily(
            "kafka_partition_earliest_offset",
            "Earliest offset (log start) of a partition",
            labels=["cluster_name", "topic", "partition"],
        )
        for p in snap.partition_details or []:
            labels = [cluster, snap.topic, str(p.partition)]
            if p.latest_offset is not None:
                latest.add_metric(labels, float(p.latest_offset))
            if p.earliest_offset is not None:
                earliest.add_metric(labels, float(p.earliest_offset))
        yield latest
        yield earliest

    def _lag(self) -> Iterator[Metric]:
        cluster = self.state.cluster_name
        part_labels = ["cluster_name", "group", "topic", "partition"]
        group_labels = ["cluster_name", "group"]
        lag = GaugeMetricFamily(
            "kafka_consumergroup_group_lag",
            "Group lag of a partition: high watermark minus committed offset (messages)",
            labels=part_labels,
        )
        lag_s = GaugeMetricFamily(
            "kafka_consumergroup_group_lag_seconds",
            "Estimated group lag of a partition in seconds (from the offset history)",
            labels=part_labels,
        )
        offset = GaugeMetricFamily(
            "kafka_consumergroup_group_offset",
            "Committed offset of a group on a partition",
            labels=part_labels,
        )
        max_lag = GaugeMetricFamily(
            "kafka_consumergroup_group_max_lag",
            "Largest partition lag of a group (messages)",
            labels=group_labels,
        )
        max_lag_s = GaugeMetricFamily(
            "kafka_consumergroup_group_max_lag_seconds",
            "Largest estimated partition lag of a group, seconds",
            labels=group_labels,
        )
        sum_lag = GaugeMetricFamily(
            "kafka_consumergroup_group_sum_lag",
            "Sum of a group's partition lags (messages)",
            labels=group_labels,
        )
        topic_sum = GaugeMetricFamily(
            "kafka_consumergroup_group_topic_sum_lag",
            "Sum of a group's partition lags on one topic (messages)",
            labels=["cluster_name", "group", "topic"],
        )
        status = GaugeMetricFamily(
            "horizons_consumergroup_status",
            "Burrow status of a group: 1 for its current status, 0 for the others",
            labels=["cluster_name", "group", "status"],
        )
        rule = GaugeMetricFamily(
            "horizons_consumergroup_status_info",
            "Always 1: the group's status, its state and the Burrow rule that decided it",
            labels=["cluster_name", "group", "status", "state", "rule"],
        )
        members = GaugeMetricFamily(
            "horizons_consumergroup_members", "Members of a group", labels=group_labels
        )
        for g in self.state.cache.lag.groups:
            max_lag.add_metric([cluster, g.group], float(g.max_lag))
            sum_lag.add_metric([cluster, g.group], float(g.total_lag))
            if g.max_lag_seconds is not None:
                max_lag_s.add_metric([cluster, g.group], g.max_lag_seconds)
            members.add_metric([cluster, g.group], float(g.members))
            for s in LAG_STATUSES:
                status.add_metric([cluster, g.group, s], 1.0 if g.status == s else 0.0)
            rule.add_metric([cluster, g.group, g.status, g.state, g.rule], 1.0)
            per_topic: dict[str, int] = {}
            for p in g.partitions:
                labels = [cluster, g.group, p.topic, str(p.partition)]
                if p.lag is not None:
                    lag.add_metric(labels, float(p.lag))
                    per_topic[p.topic] = per_topic.get(p.topic, 0) + p.lag
                if p.lag_seconds is not None:
                    lag_s.add_metric(labels, p.lag_seconds)
                if p.committed is not None:
                    offset.add_metric(labels, float(p.committed))
            for topic, total in per_topic.items():
                topic_sum.add_metric([cluster, g.group, topic], float(total))
        yield from (lag, lag_s, offset, max_lag, max_lag_s, sum_lag, topic_sum, status, rule)
        yield members

    def _publisher(self) -> Iterator[Metric]:
        pub = self.state.publisher
        if pub is None:
            return
        s = pub.snapshot()
        for name, doc, value in (
            ("sent", "Packets handed to the producer", s.sent),
            ("delivered", "Packets acknowledged by the broker", s.delivered),
            ("failed", "Packets that failed (counted and logged with their reason)", s.failed),
            ("bytes", "Bytes of packet values handed to the producer", s.bytes),
        ):
            yield CounterMetricFamily(f"horizons_publisher_{name}", doc, value=value)
        yield GaugeMetricFamily(
            "horizons_publisher_in_flight",
            "Packets queued, not yet acknowledged",
            value=s.in_flight,
        )
        yield GaugeMetricFamily(
            "horizons_publisher_rate", "Delivered packets per second, last seconds", value=s.rate
        )
        by_reason = CounterMetricFamily(
            "horizons_publisher_failures", "Failed packets by error name", labels=["reason"]
        )
        for reason, count in sorted(s.failures_by_reason.items()):
            by_reason.add_metric([reason], count)
        yield by_reason
        if s.spool is not None:
            yield from _spool_metrics(s.spool)

    def _array(self) -> Iterator[Metric]:
        feed = self.state.array_feed
        if feed is None:
            return
        snap = feed.latest().snapshot  # the shared one: a scrape builds no snapshot of its own
        yield CounterMetricFamily(
            "horizons_array_records", "Records read by the array view", value=snap.records
        )
        yield CounterMetricFamily(
            "horizons_array_undecodable",
            "Records the array view could not decode as packets",
            value=snap.undecodable,
        )
        yield GaugeMetricFamily(
            "horizons_array_rate", "Records per second read by the array view", value=snap.rate
        )
        elements = GaugeMetricFamily(
            "horizons_array_elements", "Elements by site and health", labels=["site", "health"]
        )
        max_rfi = GaugeMetricFamily(
            "horizons_array_site_max_rfi_dbm", "Highest RFI level of a site, dBm", labels=["site"]
        )
        noise = GaugeMetricFamily(
            "horizons_array_site_mean_noise_floor_dbm",
            "Mean noise floor of a site, dBm",
            labels=["site"],
        )
        for site in snap.sites:
            counts = {"ok": site.ok, "warn": site.warn, "alarm": site.alarm, "stale": site.stale}
            for health in HEALTH_ORDER:
                elements.add_metric([site.site_id, health], float(counts[health]))
            if site.max_rfi is not None:
                max_rfi.add_metric([site.site_id], site.max_rfi)
            if site.mean_noise_floor is not None:
                noise.add_metric([site.site_id], site.mean_noise_floor)
        yield from (elements, max_rfi, noise)

    def _extra(self) -> Iterator[Metric]:
        """Every numeric top-level field of each extra provider's stats, as a gauge."""
        for component, value in self.state.service_stats().components.items():
            if not isinstance(value, dict):
                continue
            prefix = "horizons_" + _NAME_SAFE.sub("_", component).lower()
            for key, item in value.items():
                if isinstance(item, bool) or not isinstance(item, int | float):
                    continue
                name = f"{prefix}_{_snake(key)}"
                yield GaugeMetricFamily(name, f"{component} stats field {key}", value=item)


def _snake(name: str) -> str:
    return _NAME_SAFE.sub("_", re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)).lower()


def make_registry(state: ApiState) -> CollectorRegistry:
    """A registry of its own (several apps may live in one process, as in tests)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HorizonsCollector(state))
    return registry


def render_metrics(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def _spool_metrics(sp: SpoolStats) -> Iterator[Metric]:
    """The publisher's spool (store and forward)."""
    for name, doc, gauge_value in (
        ("records", "Packets spooled, not yet acknowledged", sp.records),
        ("bytes", "Bytes of the spool's segment files", sp.bytes),
        ("oldest_age_seconds", "Age of the oldest spooled packet", sp.oldest_age_s or 0.0),
        ("drain_rate", "Spooled packets acknowledged per second, last seconds", sp.drain_rate),
        (
            "time_to_drain_seconds",
            "At the current rate (-1: not shrinking)",
            -1.0 if sp.time_to_drain_s is None else sp.time_to_drain_s,
        ),
        ("spooling", "1 while new packets wait behind the spool", int(sp.spooling)),
    ):
        yield GaugeMetricFamily(f"horizons_publisher_spool_{name}", doc, value=gauge_value)
    for name, doc, count in (
        ("dropped", "Packets dropped unsent by --spool-policy drop-oldest", sp.dropped),
        ("corrupt", "Damaged spool records detected and skipped", sp.corrupt),
    ):
        yield CounterMetricFamily(f"horizons_publisher_spool_{name}", doc, value=count)
