"""Parsing ingest request bodies into validated events, with errors naming the field.

A batch shaped as the SDKs send it is decoded by ``moxtrace.server.decode`` (msgspec, in
one pass); every other body is decoded by orjson (strict JSON: no NaN, no lone surrogates,
nesting bounded) and validated as ``TelemetryLogRequest``, with the same result for what
both take. Unknown fields are ignored (and kept in the
stored event, which is the JSON object as sent). Anything wrong answers 400 with the first
problem's field path (``events[3].trace_id``) in the message and up to 20 in ``details``;
nothing of an invalid batch is stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from moxtrace.server.assemble import Event, WireEvent
from moxtrace.server.decode import decode_events
from moxtrace.server.errors import ApiError, invalid_payload
from moxtrace.server.signing import valid_storage_key
from moxtrace.types.telemetry import TelemetryLogRequest

__all__ = [
    "LogEventsBody",
    "field_path",
    "parse_event",
    "parse_events",
    "validate_batch",
    "validate_events",
    "validation_error",
]

_INT64 = (1 << 63) - 1
_MAX_DETAILS = 20


def field_path(loc: Sequence[Any], prefix: str = "") -> str:
    """``("trace_id",)`` with prefix ``events[3]`` as ``events[3].trace_id``."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def validation_error(exc: ValidationError, prefix: str = "") -> ApiError:
    """A 400 ``ApiError`` for a pydantic ``ValidationError`` of the object at ``prefix``."""
    details = [
        {"field": field_path(error["loc"], prefix), "message": error["msg"]}
        for error in exc.errors(include_url=False, include_input=False)[:_MAX_DETAILS]
    ]
    first = details[0] if details else {"field": prefix or "body", "message": "invalid"}
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return invalid_payload(f"{first['field']}: {first['message']}{more}", details)


def _decode(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise invalid_payload(f"body: malformed JSON ({exc})") from None


def _problem(path: str, name: str, message: str) -> ApiError:
    field = f"{path}.{name}" if path else name
    return invalid_payload(f"{field}: {message}", [{"field": field, "message": message}])


class LogEventsBody(BaseModel):
    """The body of ``POST /telemetry/log-events`` (as documented in the OpenAPI schema)."""

    model_config = ConfigDict(extra="ignore")

    events: list[TelemetryLogRequest]


def _validate(raw: Any, path: str) -> TelemetryLogRequest:
    if not isinstance(raw, dict):
        raise invalid_payload(f"{path or 'body'}: expected a JSON object")
    try:
        event = TelemetryLogRequest.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, path) from None
    if event.sequence_number > _INT64:
        raise _problem(path, "sequence_number", f"must be at most {_INT64}")
    key = event.content_storage_key
    if key is not None and not valid_storage_key(key):
        raise _problem(
            path,
            "content_storage_key",
            "must be 1-256 letters, digits, '.', '_', '-' or '/' (no '..' segment)",
        )
    return event


def validate_events(raws: Sequence[Any], prefix: str = "events") -> list[WireEvent]:
    """Validate JSON objects as events; 400 naming the first invalid one."""
    return [(_validate(raw, f"{prefix}[{i}]"), raw) for i, raw in enumerate(raws)]


def parse_event(body: bytes) -> WireEvent:
    """One event (``POST /telemetry/log-event``)."""
    raw = _decode(body)
    return _validate(raw, ""), raw


def parse_events(body: bytes) -> list[Event] | list[WireEvent]:
    """A batch ``{"events": [...]}``; any invalid event rejects the whole batch."""
    events = decode_events(body)
    return events if events is not None else validate_batch(body)


def validate_batch(body: bytes) -> list[WireEvent]:
    """``parse_events`` through orjson and pydantic, whatever the body (the errors)."""
    doc = _decode(body)
    if not isinstance(doc, Mapping):
        raise invalid_payload('body: expected a JSON object {"events": [...]}')
    raws = doc.get("events")
    if not isinstance(raws, list):
        raise _problem("", "events", "required: a JSON array of events")
    return validate_events(raws)
