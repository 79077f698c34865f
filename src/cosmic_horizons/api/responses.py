"""How routes answer: a msgspec Struct returned by an endpoint is its response model.

The API's models are msgspec Structs (:mod:`.models`), which FastAPI's ``response_model`` (a
pydantic type) cannot take. :class:`StructRoute` makes the endpoint's typed return the model
instead: it documents the 200 answer as that Struct's schema in ``/openapi.json`` components and
encodes the returned value with msgspec. Error answers are raised as FastAPI's
``HTTPException``, whose ``{"detail": ...}`` body is an :class:`ErrorBody`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, get_type_hints

import msgspec
from fastapi.datastructures import DefaultPlaceholder
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

__all__ = ["StructResponse", "StructRoute", "answer", "encode"]

#: JSON bytes of a msgspec Struct (or anything msgspec encodes).
encode = msgspec.json.Encoder().encode


class StructResponse(JSONResponse):
    """JSON from a msgspec Struct (or anything msgspec encodes), encoded by msgspec."""

    def render(self, content: Any) -> bytes:
        return encode(content)


def answer(model: type[msgspec.Struct], description: str) -> dict[str, Any]:
    """An OpenAPI answer whose JSON body is ``model`` (its schema is in components)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


class StructRoute(APIRoute):
    """A route whose endpoint may return a msgspec Struct, its response model.

    When the endpoint's return annotation is a Struct, the 200 answer is documented as that
    Struct (described by ``response_description``) and the value is sent as a
    :class:`StructResponse`. A ``Response`` parameter of the endpoint sets the status code and
    headers of the answer, as in plain FastAPI.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        model = get_type_hints(endpoint).get("return")
        if isinstance(model, type) and issubclass(model, msgspec.Struct):
            description = kwargs.get("response_description", "Successful Response")
            kwargs["responses"] = {
                200: answer(model, description),
                **(kwargs.get("responses") or {}),
            }
            kwargs["response_model"] = None
            if isinstance(kwargs.get("response_class"), DefaultPlaceholder | None):
                kwargs["response_class"] = StructResponse
            endpoint = _sending_structs(endpoint)
        super().__init__(path, endpoint, **kwargs)


def _sending_structs(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint`` answering with a :class:`StructResponse` of what it returns.

    The wrapper keeps the endpoint's signature (FastAPI reads it through ``__wrapped__``) and its
    kind: a plain function still runs in the thread pool, a coroutine on the event loop.
    """
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def send_async(**values: Any) -> Response:
            return _respond(await endpoint(**values), values)

        return send_async

    @functools.wraps(endpoint)
    def send(**values: Any) -> Response:
        return _respond(endpoint(**values), values)

    return send


def _respond(content: Any, values: dict[str, Any]) -> Response:
    if isinstance(content, Response):
        return content
    response = StructResponse(content)
    for value in values.values():
        if isinstance(value, Response):  # FastAPI's sub-response, given to a Response parameter
            if value.status_code is not None:
                response.status_code = value.status_code
            response.headers.raw.extend(value.headers.raw)
            break
    return response
