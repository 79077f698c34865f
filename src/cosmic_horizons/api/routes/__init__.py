"""The routes of the HTTP API, one router per OpenAPI tag, and the dashboard's pages."""

from __future__ import annotations

from fastapi import APIRouter

from . import array, brokers, dashboard, messaging, metrics, probes, records, stream

__all__ = ["ROUTERS"]

#: Every router of the app, in the order their paths appear in the OpenAPI document.
ROUTERS: tuple[APIRouter, ...] = (
    probes.router,
    messaging.router,
    array.router,
    records.router,
    brokers.router,
    stream.router,
    metrics.router,
    dashboard.router,
)
