"""The OpenAPI document of the app: valid OpenAPI 3.1, every endpoint with a response schema."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from cosmic_horizons.api import ApiState, create_app
from cosmic_horizons.api.models import API_MODELS
from cosmic_horizons.config import KafkaSettings
from cosmic_horizons.monitor import Monitor

ENDPOINTS = (
    "/api/health",
    "/api/ready",
    "/api/messaging/snapshot",
    "/api/messaging/stats",
    "/api/messaging/lag",
    "/api/topics",
    "/api/array",
    "/api/stream",
    "/metrics",
)


def openapi() -> dict[str, Any]:
    # Building the app talks to no broker: the poller only starts with the server's lifespan.
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    return create_app(ApiState(settings=settings, monitor=Monitor(settings))).openapi()


def test_document_is_valid_openapi() -> None:
    doc = openapi()
    validate(doc)  # raises with the offending path when invalid
    assert doc["openapi"].startswith("3.1")


def test_every_endpoint_names_its_response_schema() -> None:
    doc = openapi()
    assert set(ENDPOINTS) <= set(doc["paths"])
    schemas = doc["components"]["schemas"]
    for model in API_MODELS:
        assert model.__name__ in schemas
    for path in ENDPOINTS:
        ok = doc["paths"][path]["get"]["responses"]["200"]
        (schema,) = [c["schema"] for c in ok["content"].values() if c.get("schema")]
        assert schema, f"{path} has no response schema"
    assert doc["paths"]["/api/messaging/snapshot"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"] == {"$ref": "#/components/schemas/KafkaSnapshot"}
    assert "503" in doc["paths"]["/api/ready"]["get"]["responses"]
    assert "404" in doc["paths"]["/api/messaging/lag"]["get"]["responses"]


def test_stream_is_described_as_an_event_stream_not_as_its_payload() -> None:
    # The body of /api/stream is text/event-stream, a string of events: describing it with the
    # payload's JSON schema made schemathesis check the stream against that schema (ST108).
    doc = openapi()
    ok = doc["paths"]["/api/stream"]["get"]["responses"]["200"]
    assert set(ok["content"]) == {"text/event-stream"}
    media = ok["content"]["text/event-stream"]
    assert media["schema"]["type"] == "string"
    assert "$ref" not in str(media["schema"])
    assert "DataPlaneUpdate" in ok["description"] and "ArraySnapshot" in ok["description"]
    assert media["x-event-payloads"] == {
        "snapshot": "#/components/schemas/DataPlaneUpdate",
        "array": "#/components/schemas/ArraySnapshot",
    }
    for ref in media["x-event-payloads"].values():
        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"]
