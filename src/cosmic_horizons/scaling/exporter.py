"""The brokers' Prometheus JMX exporter, read back: bytes in/out, under-replicated and
offline partitions, and the request handlers' idle ratio per broker (the rules are
``deploy/kafka-metrics.yaml``; the dashboard and ``horizons doctor`` read them).

``HORIZONS_BROKER_METRICS`` lists the exporters' URLs (comma-separated); unset, nothing is
scraped. A reader keeps each broker's previous totals, so it reports rates too.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

import msgspec
from prometheus_client.parser import text_string_to_metric_families

from ..errors import ConfigError

__all__ = ["BrokerMetrics", "BrokerMetricsReader", "BrokerMetricsReport", "broker_metrics_urls"]

ENV = "HORIZONS_BROKER_METRICS"
_WANTED = {
    "kafka_server_bytes_in_total": "bytes_in",
    "kafka_server_bytes_out_total": "bytes_out",
    "kafka_server_under_replicated_partitions": "under_replicated",
    "kafka_controller_offline_partitions": "offline",
    "kafka_server_request_handler_avg_idle_ratio": "handler_idle",
}


def broker_metrics_urls(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The exporter URLs of ``HORIZONS_BROKER_METRICS``; a :class:`ConfigError` for one that
    is not ``http(s)://host:port/...``."""
    text = (os.environ if env is None else env).get(ENV, "")
    urls = tuple(u.strip() for u in text.split(",") if u.strip())
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{ENV}: {url!r} is not an http(s)://host:port/metrics URL")
    return urls


class BrokerMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """One exporter's answer; rates are per second since the previous scrape (null at first)."""

    url: str
    up: bool
    bytes_in_total: float | None = msgspec.field(default=None, name="bytesInTotal")
    bytes_out_total: float | None = msgspec.field(default=None, name="bytesOutTotal")
    bytes_in_per_s: float | None = msgspec.field(default=None, name="bytesInPerSec")
    bytes_out_per_s: float | None = msgspec.field(default=None, name="bytesOutPerSec")
    under_replicated: int | None = msgspec.field(default=None, name="underReplicated")
    #: Partitions without a leader, as the controllers count them (brokers only: None).
    offline_partitions: int | None = msgspec.field(default=None, name="offlinePartitions")
    #: Share of time the request handler threads were idle over a minute (1 idle, 0 busy).
    handler_idle_ratio: float | None = msgspec.field(default=None, name="handlerIdleRatio")
    error: str | None = None


class BrokerMetricsReport(msgspec.Struct, frozen=True, kw_only=True):
    """``configured`` is false when no exporter URL is set (the panel then stays hidden)."""

    configured: bool
    brokers: list[BrokerMetrics]
    under_replicated: int | None = msgspec.field(name="underReplicated")
    scraped_at: float | None = msgspec.field(name="scrapedAt")


def parse_exporter(text: str) -> dict[str, float]:
    """The values :data:`_WANTED` names, from Prometheus text (the official parser)."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = _WANTED.get(sample.name)
            if key is not None and not sample.labels:
                found[key] = float(sample.value)
    return found


class BrokerMetricsReader:
    """Scrapes every URL at most once per ``min_interval`` seconds (answers in between come
    from the last scrape), each with a ``timeout``."""

    def __init__(self, urls: tuple[str, ...], *, timeout: float = 2.0,
                 min_interval: float = 2.0) -> None:  # fmt: skip
        self.urls = urls
        self.timeout = timeout
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, dict[str, float]]] = {}
        self._report: BrokerMetricsReport | None = None

    def report(self) -> BrokerMetricsReport:
        with self._lock:
            now = time.time()
            cached = self._report
            if cached is not None and now - (cached.scraped_at or 0) < self.min_interval:
                return cached
            brokers = [self._one(url, now) for url in self.urls]
            urp = [b.under_replicated for b in brokers if b.under_replicated is not None]
            self._report = BrokerMetricsReport(
                configured=bool(self.urls),
                brokers=brokers,
                under_replicated=sum(urp) if urp else None,
                scraped_at=now if self.urls else None,
            )
            return self._report

    def _one(self, url: str, now: float) -> BrokerMetrics:
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as answer:
                values = parse_exporter(answer.read().decode())
        except (OSError, ValueError) as exc:
            return BrokerMetrics(url=url, up=False, error=f"{type(exc).__name__}: {exc}")
        before = self._last.get(url)
        self._last[url] = (now, values)

        def rate(key: str) -> float | None:
            if before is None or key not in values or key not in before[1] or now <= before[0]:
                return None
            return round(max(0.0, values[key] - before[1][key]) / (now - before[0]), 1)

        urp, offline = values.get("under_replicated"), values.get("offline")
        return BrokerMetrics(
            url=url,
            up=True,
            bytes_in_total=values.get("bytes_in"),
            bytes_out_total=values.get("bytes_out"),
            bytes_in_per_s=rate("bytes_in"),
            bytes_out_per_s=rate("bytes_out"),
            under_replicated=None if urp is None else int(urp),
            offline_partitions=None if offline is None else int(offline),
            handler_idle_ratio=values.get("handler_idle"),
        )
