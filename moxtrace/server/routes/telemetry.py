"""The Moxn ingest routes: one event, a batch, an event with a signed upload URL, the upload.

Every ingest request is authenticated, rate limited per tenant, admitted by the gate (503
when the server is saturated), read within the body limit (413), validated whole (400
naming the field; nothing stored), then committed before the 2xx.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from moxtrace.server.assemble import Event, WireEvent, dumps
from moxtrace.server.body import read_body
from moxtrace.server.envelope import success
from moxtrace.server.errors import forbidden, invalid_payload, not_found
from moxtrace.server.gcpause import gc_paused
from moxtrace.server.offload import off_loop
from moxtrace.server.payloads import LogEventsBody, parse_event, parse_events
from moxtrace.server.services import services_of
from moxtrace.server.signing import default_storage_key, valid_storage_key
from moxtrace.types.telemetry import TelemetryLogRequest

__all__ = ["router"]

router = APIRouter(tags=["ingest"])

_ACK_SCHEMA = {
    "type": "object",
    "properties": {"accepted": {"type": "integer"}, "duplicates": {"type": "integer"}},
}


def _json_body(model: type[Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


@router.post(
    "/telemetry/log-event",
    summary="Store one TelemetryLogRequest",
    openapi_extra=_json_body(TelemetryLogRequest),
)
async def log_event(request: Request) -> Response:
    """One event; ``{"accepted": 1, "duplicates": 0}`` (or 0/1 for a repeat)."""
    services = services_of(request)
    tenant = await services.auth.authenticate(request)
    services.check_rate(tenant)
    async with services.gate.slot():
        body = await read_body(request, services.settings.max_body_bytes)
        result = await services.ingestor.ingest(tenant, [parse_event(body)])
    return success({"accepted": result.accepted, "duplicates": result.duplicates})


@router.post(
    "/telemetry/log-events",
    summary="Store a batch of events, all or nothing",
    openapi_extra=_json_body(LogEventsBody),
)
async def log_events(request: Request) -> Response:
    """``{"events": [...]}``; stored whole or not at all; repeats counted as duplicates."""
    services = services_of(request)
    tenant = await services.auth.authenticate(request)
    services.check_rate(tenant)
    async with services.gate.slot():
        body = await read_body(request, services.settings.max_body_bytes)
        events = await off_loop(len(body), lambda: _parse_events(body))
        result = await services.ingestor.ingest(tenant, events)
    return success({"accepted": result.accepted, "duplicates": result.duplicates})


@router.post(
    "/telemetry/log-event-and-get-signed-url",
    summary="Store one event and get a URL to PUT its content to",
    openapi_extra=_json_body(TelemetryLogRequest),
)
async def log_event_and_get_signed_url(request: Request) -> Response:
    """The event is stored at once; its content follows with a PUT to ``signed_url``."""
    services = services_of(request)
    tenant = await services.auth.authenticate(request)
    services.check_rate(tenant)
    async with services.gate.slot():
        body = await read_body(request, services.settings.max_body_bytes)
        event, raw = parse_event(body)
        key = event.content_storage_key or default_storage_key(
            event.trace_id, event.span_id, event.event_type.value, event.sequence_number
        )
        event = event.model_copy(update={"content_storage_key": key, "content_stored": True})
        raw = {**raw, "content_storage_key": key, "content_stored": True}
        result = await services.ingestor.ingest(tenant, [(event, raw)])
    base_url = services.settings.public_url or str(request.base_url)
    signed = services.signer.sign(base_url, tenant, key, time.time())
    return success(
        {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "signed_url": signed.url,
            "content_storage_key": key,
            "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(signed.expires)),
        }
    )


@router.put(
    "/telemetry/content/{storage_key:path}",
    summary="Upload content to a signed URL (no API key: the signature authorizes)",
)
async def put_content(
    request: Request, storage_key: str, tenant: str = "", expires: int = 0, signature: str = ""
) -> Response:
    """Store the JSON body under ``storage_key`` for the tenant the URL was signed for."""
    services = services_of(request)
    if not valid_storage_key(storage_key):
        raise not_found("no such upload URL")
    problem = services.signer.verify(tenant, storage_key, expires, signature, time.time())
    if problem is not None:
        raise forbidden(f"{problem}: ask for a new URL")
    services.check_rate(tenant)
    async with services.gate.slot():
        body = await read_body(request, services.settings.max_body_bytes)
        text = await off_loop(len(body), lambda: _content_text(body))
        await services.ingestor.put_content(tenant, storage_key, text)
    return success({"stored": True, "content_storage_key": storage_key, "size": len(text)})


def _parse_events(body: bytes) -> list[Event] | list[WireEvent]:
    with gc_paused():
        return parse_events(body)


def _content_text(body: bytes) -> str:
    try:
        return dumps(json.loads(body))
    except (ValueError, RecursionError) as exc:
        raise invalid_payload(f"body: content must be JSON ({exc})") from None
