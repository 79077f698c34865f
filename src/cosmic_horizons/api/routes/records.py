"""The record browser: the latest records of one partition or one element, decoded."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from ...browse import latest_records
from ...errors import BrokerError, ConfigError
from ...publisher import TopicMissingError
from ..dependencies import State
from ..models import ErrorBody, RecordsPage
from ..responses import StructRoute, answer

__all__ = ["router"]

router = APIRouter(tags=["records"], route_class=StructRoute)

#: The most records one request returns.
MAX_RECORDS = 200


@router.get(
    "/api/records",
    summary="The latest records of one partition or one element, decoded",
    response_description="Oldest first, with partition, offset and record time.",
    responses={
        400: answer(ErrorBody, "No such partition, or both partition and element given."),
        404: answer(ErrorBody, "The topic does not exist."),
        503: answer(ErrorBody, "The broker could not be reached."),
    },
)
def records(
    state: State,
    partition: int | None = Query(None, ge=0, description="Only this partition."),
    element: str | None = Query(
        None,
        min_length=1,
        max_length=256,
        description="Only this element's records (read from its partition).",
    ),
    limit: int = Query(20, ge=1, le=MAX_RECORDS, description="How many records."),
) -> RecordsPage:
    """Reads the monitored topic up to its end as it is now; blocks for at most a few seconds."""
    if partition is not None and element is not None:
        raise HTTPException(400, "give partition or element, not both")
    topic = state.settings.topic
    try:
        found = latest_records(
            state.settings, topic, partition=partition, element=element, limit=limit
        )
    except TopicMissingError as exc:
        raise HTTPException(404, str(exc)) from None
    except ConfigError as exc:
        raise HTTPException(400, str(exc)) from None
    except BrokerError as exc:
        raise HTTPException(503, str(exc)) from None
    return RecordsPage(topic=topic, partition=partition, element=element, records=found)
