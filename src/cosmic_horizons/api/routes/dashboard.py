"""The dashboard and the API reference page, served from ``api/static`` (no CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from ..responses import StructRoute

__all__ = ["STATIC_DIR", "router"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False, route_class=StructRoute)


@router.get("/")
async def index() -> FileResponse:
    """The dashboard page."""
    return FileResponse(STATIC_DIR / "index.html")


@router.get("/docs")
async def docs() -> FileResponse:
    """The API reference page (it reads /openapi.json)."""
    return FileResponse(STATIC_DIR / "docs.html")


router.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
