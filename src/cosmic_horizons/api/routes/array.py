"""The array view: latest metrics and health per element and per site."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from ...array_view import ArraySnapshot
from ..dependencies import State
from ..models import ErrorBody
from ..responses import StructRoute, answer

__all__ = ["router"]

router = APIRouter(tags=["array"], route_class=StructRoute)


@router.get(
    "/api/array",
    summary="Latest metrics and health per element and per site",
    response_class=Response,
    responses={
        200: answer(ArraySnapshot, "The array view (an ArraySnapshot)."),
        404: answer(ErrorBody, "No array view runs here."),
    },
)
def array(state: State) -> Response:
    """The array view's snapshot, shared for one interval by every request and event stream.

    Its ``generatedAt`` says when it was built (at most ``array_interval``, 1 s, ago); every
    tracked element is in it, and ``elementLimit`` says how many the view tracks at most.
    404 when this process runs no array view.
    """
    feed = state.array_feed
    if feed is None:
        raise HTTPException(404, "no array view runs in this process")
    return Response(feed.latest().json, media_type="application/json")
