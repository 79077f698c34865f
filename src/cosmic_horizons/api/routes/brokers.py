"""``/api/brokers/metrics``: bytes in/out and under-replicated partitions per broker, from
the brokers' JMX exporters (``HORIZONS_BROKER_METRICS``)."""

from __future__ import annotations

from fastapi import APIRouter

from ...scaling.exporter import BrokerMetricsReport
from ..dependencies import State
from ..responses import StructRoute

__all__ = ["router"]

router = APIRouter(tags=["brokers"], route_class=StructRoute)


@router.get(
    "/api/brokers/metrics",
    summary="Broker metrics from the JMX exporters",
    response_description="One entry per configured exporter URL.",
)
def broker_metrics(state: State) -> BrokerMetricsReport:
    """Scraped at most every 2 s (2 s timeout each); ``configured`` is false without URLs."""
    return state.broker_metrics.report()
