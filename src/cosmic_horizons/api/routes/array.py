"""The array view: latest metrics and health per element and per site."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from ...array_view import ArraySnapshot
from ..dependencies import State
from ..models import ErrorBody
from ..responses import StructRoute, answer

__all__ = ["router"]

router = APIRouter(tags=["array"], route_class=StructRoute)


@router.get(
    "/api/array",
    summary="Latest metrics and health per element and per site",
    response_description="The array view.",
    responses={404: answer(ErrorBody, "No array view runs here.")},
)
def array(state: State) -> ArraySnapshot:
    """The array view's latest snapshot; 404 when this process runs no array view."""
    if state.array is None:
        raise HTTPException(404, "no array view runs in this process")
    return state.array.snapshot()
