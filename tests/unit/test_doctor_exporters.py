"""The doctor's checks of the brokers' JMX exporters: over fabricated metric values, and over a
loopback endpoint serving the exporter's own text format (the real exporters are read in
tests/cluster/test_rebalance.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from cosmic_horizons.doctor import run_checks, worst_level
from cosmic_horizons.doctor.checks_cluster import check_replication
from cosmic_horizons.doctor.checks_exporters import check_exporters, check_handlers
from cosmic_horizons.doctor.state import CheckResult, ClusterState
from cosmic_horizons.scaling.exporter import BrokerMetrics, BrokerMetricsReader
from tests.unit.exporter_endpoint import exporter_endpoint
from tests.unit.test_doctor_checks import healthy, only

URLS = tuple(f"http://k{i}:9404/metrics" for i in (1, 2, 3))

#: What one controller+broker node's exporter answers under deploy/kafka-metrics.yaml.
EXPORTER_TEXT = """\
# HELP kafka_server_bytes_in_total Bytes in
# TYPE kafka_server_bytes_in_total counter
kafka_server_bytes_in_total 12345.0
# HELP kafka_server_bytes_out_total Bytes out
# TYPE kafka_server_bytes_out_total counter
kafka_server_bytes_out_total 678.0
# HELP kafka_server_under_replicated_partitions UnderReplicatedPartitions
# TYPE kafka_server_under_replicated_partitions gauge
kafka_server_under_replicated_partitions 3.0
# HELP kafka_controller_offline_partitions OfflinePartitionsCount
# TYPE kafka_controller_offline_partitions gauge
kafka_controller_offline_partitions 1.0
# HELP kafka_server_request_handler_avg_idle_ratio RequestHandlerAvgIdlePercent
# TYPE kafka_server_request_handler_avg_idle_ratio gauge
kafka_server_request_handler_avg_idle_ratio 0.125
# HELP kafka_server_topic_bytes_in_total per topic
# TYPE kafka_server_topic_bytes_in_total counter
kafka_server_topic_bytes_in_total{topic="element.raw_data"} 12000.0
"""


def answering(url: str, **values: float | int | None) -> BrokerMetrics:
    fields = {"under_replicated": 0, "offline_partitions": 0, "handler_idle_ratio": 0.9}
    return BrokerMetrics(url=url, up=True, **{**fields, **values})  # type: ignore[arg-type]


def with_exporters(*exporters: BrokerMetrics) -> ClusterState:
    return dataclasses.replace(healthy(), exporters=exporters)


def of(results: list[CheckResult], check: str) -> list[CheckResult]:
    return [r for r in results if r.check == check]


def test_without_exporter_urls_the_checks_skip() -> None:
    results = run_checks(healthy())
    assert [r.level for r in of(results, "exporters")] == ["SKIP"]
    assert "HORIZONS_BROKER_METRICS unset" in of(results, "exporters")[0].message
    assert [r.level for r in of(results, "handlers")] == ["SKIP"]
    assert worst_level(r.level for r in results) == "OK"


def test_healthy_exporters_pass_and_replication_says_they_agree() -> None:
    results = run_checks(with_exporters(*(answering(u) for u in URLS)))
    assert worst_level(r.level for r in results) == "OK", [r for r in results if r.level != "OK"]
    assert of(results, "exporters")[0].message == "3 exporter(s) answered"
    assert "the brokers' exporters agree" in of(results, "replication")[0].message
    assert "idle 90% of the time at the least" in of(results, "handlers")[0].message


def test_an_exporter_that_does_not_answer_warns_naming_it() -> None:
    down = BrokerMetrics(url=URLS[2], up=False, error="URLError: connection refused")
    state = with_exporters(answering(URLS[0]), answering(URLS[1]), down)
    warn = only(check_exporters(state), "WARN")
    assert URLS[2] in warn.message and "connection refused" in warn.message
    assert "HORIZONS_BROKER_METRICS" in (warn.fix or "")
    # The two that answered are still judged.
    assert check_handlers(state)[0].level == "OK"


def test_under_replicated_counts_are_summed_and_warn() -> None:
    state = with_exporters(
        answering(URLS[0], under_replicated=2), answering(URLS[1], under_replicated=1),
        answering(URLS[2]),
    )  # fmt: skip
    warn = only(check_replication(state), "WARN")
    assert "the brokers count 3 under-replicated partition(s)" in warn.message
    assert f"{URLS[0]}: 2, {URLS[1]}: 1" in warn.message


def test_offline_partitions_fail_counted_once_however_many_controllers_report_them() -> None:
    state = with_exporters(*(answering(u, offline_partitions=4) for u in URLS))
    fail = only(check_replication(state), "FAIL")
    assert "the controllers count 4 offline partition(s)" in fail.message


def test_request_handlers_under_a_fifth_idle_warn() -> None:
    state = with_exporters(
        answering(URLS[0], handler_idle_ratio=0.19), answering(URLS[1], handler_idle_ratio=0.2),
        answering(URLS[2], handler_idle_ratio=None),
    )  # fmt: skip
    warn = only(check_handlers(state), "WARN")
    assert warn.message.startswith(f"{URLS[0]}: request handler threads idle 19%")
    ok = check_handlers(with_exporters(answering(URLS[1], handler_idle_ratio=0.2)))
    assert [r.level for r in ok] == ["OK"] and "idle 20%" in ok[0].message


@pytest.fixture
def exporter_url() -> Iterator[str]:
    with exporter_endpoint(lambda: EXPORTER_TEXT) as url:
        yield url


def test_an_exporter_endpoint_read_into_the_checks(exporter_url: str) -> None:
    dead = "http://127.0.0.1:1/metrics"
    report = BrokerMetricsReader((exporter_url, dead), timeout=2.0, min_interval=0).report()
    up, down = report.brokers
    assert (up.under_replicated, up.offline_partitions, up.handler_idle_ratio) == (3, 1, 0.125)
    assert not down.up
    results = run_checks(with_exporters(*report.brokers))
    assert dead in only(of(results, "exporters"), "WARN").message
    replication = {r.level: r.message for r in of(results, "replication")}
    assert "3 under-replicated" in replication["WARN"]
    assert "1 offline partition(s)" in replication["FAIL"]
    assert "idle 12%" in only(of(results, "handlers"), "WARN").message
    assert worst_level(r.level for r in results) == "FAIL"
