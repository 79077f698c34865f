"""``/metrics``: Prometheus text rendered from the API's cached state at scrape time."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ..dependencies import Registry
from ..metrics import render_metrics
from ..responses import StructRoute

__all__ = ["METRICS_CONTENT_TYPE", "router"]

#: The classic Prometheus text format (metric names here are plain ASCII, so it is exact).
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

router = APIRouter(tags=["metrics"], route_class=StructRoute)


@router.get(
    "/metrics",
    summary="Prometheus metrics (kafka-lag-exporter names for lag and offsets)",
    response_class=Response,
    responses={200: {"description": "Prometheus text exposition format 0.0.4", "content": {
        "text/plain": {"schema": {"type": "string"}}}}},
)  # fmt: skip
def metrics(registry: Registry) -> Response:
    """Every metric family, built from the last poll at scrape time (the broker is not asked)."""
    return Response(render_metrics(registry), media_type=METRICS_CONTENT_TYPE)
