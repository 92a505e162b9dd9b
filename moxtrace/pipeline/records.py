"""Decoding one record — a Kafka record's value and headers, or an OTLP/HTTP request
body — into Moxn events or OpenTelemetry spans.

The ``content-type`` header says which format it is (``moxtrace.pipeline.topic``); when
it is absent the value is sniffed: JSON starts with ``{`` (or ``[``), anything else is
taken for OTLP protobuf. JSON is Moxn events (``{"events": [...]}`` or one event) or OTLP/JSON
(``{"resourceSpans": [...]}``), told apart by their keys. Events are validated exactly as
``moxtrace serve`` validates them; spans are decoded by ``moxtrace.otlp``.

Whatever cannot be decoded raises ``UndecodableRecord`` whose message is the reason the
collector puts in the dead letter's ``moxtrace-dlq-reason`` header. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan

from moxtrace import otlp
from moxtrace.pipeline.topic import (
    CONTENT_TYPE_HEADER,
    CONTENT_TYPE_MOXN_EVENTS,
    CONTENT_TYPE_OTLP_JSON,
    CONTENT_TYPE_OTLP_PROTOBUF,
    TENANT_HEADER,
)
from moxtrace.server.apikeys import TENANT_PATTERN
from moxtrace.server.assemble import WireEvent
from moxtrace.server.errors import ApiError
from moxtrace.server.payloads import validate_events

__all__ = ["DecodedRecord", "UndecodableRecord", "decode_record", "header_value"]

_PROTOBUF_TYPES = frozenset({CONTENT_TYPE_OTLP_PROTOBUF, "application/protobuf"})
_JSON_TYPES = frozenset({CONTENT_TYPE_OTLP_JSON, CONTENT_TYPE_MOXN_EVENTS})
_WHITESPACE = b" \t\r\n"


class UndecodableRecord(ValueError):
    """The record is not Moxn events nor OTLP traces; the message says why."""


@dataclass
class DecodedRecord:
    """A decoded record: its tenant and either events or spans."""

    tenant: str
    events: list[WireEvent] | None = None
    """Validated Moxn events, each with the JSON object it was read from."""
    spans: list[ReadableSpan] | None = None
    """Spans of an OTLP ``ExportTraceServiceRequest``."""


def header_value(headers: Sequence[tuple[str, bytes]] | None, name: str) -> str | None:
    """The first header ``name`` (case-insensitive) as text, or None."""
    for key, value in headers or ():
        if key.lower() == name:
            return bytes(value).decode("utf-8", "replace") if value is not None else None
    return None


def decode_record(
    value: bytes | None, headers: Sequence[tuple[str, bytes]] | None, default_tenant: str
) -> DecodedRecord:
    """The events or spans in ``value``; ``UndecodableRecord`` naming the problem."""
    tenant = header_value(headers, TENANT_HEADER)
    if tenant is None:
        tenant = default_tenant
    elif not TENANT_PATTERN.fullmatch(tenant):
        raise UndecodableRecord(
            f"{TENANT_HEADER} header {tenant[:70]!r} is not a tenant name "
            "(1-63 letters, digits, '_' or '-')"
        )
    if not value:
        raise UndecodableRecord("empty record (no value)")
    media_type = (header_value(headers, CONTENT_TYPE_HEADER) or "").split(";")[0].strip().lower()
    if media_type in _PROTOBUF_TYPES:
        return DecodedRecord(tenant, spans=_otlp_spans(otlp.parse_protobuf, value))
    if media_type in _JSON_TYPES or media_type.endswith("+json"):
        return _json(tenant, value)
    if media_type:
        raise UndecodableRecord(
            f"unsupported content-type {media_type!r}: use {CONTENT_TYPE_MOXN_EVENTS}, "
            f"{CONTENT_TYPE_OTLP_PROTOBUF} or {CONTENT_TYPE_OTLP_JSON}"
        )
    if value.lstrip(_WHITESPACE)[:1] in (b"{", b"["):
        return _json(tenant, value)
    return DecodedRecord(tenant, spans=_otlp_spans(otlp.parse_protobuf, value))


def _json(tenant: str, value: bytes) -> DecodedRecord:
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise UndecodableRecord(f"malformed JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise UndecodableRecord("JSON value is not an object")
    if "resourceSpans" in doc or "resource_spans" in doc:
        return DecodedRecord(tenant, spans=_otlp_spans(otlp.parse_json, value))
    try:
        if "events" in doc:
            raws = doc["events"]
            if not isinstance(raws, list):
                raise UndecodableRecord("events: expected a JSON array")
            return DecodedRecord(tenant, events=validate_events(raws))
        if "event_type" in doc:
            return DecodedRecord(tenant, events=validate_events([doc], "event"))
    except ApiError as exc:
        raise UndecodableRecord(f"invalid Moxn event: {exc.message}") from None
    raise UndecodableRecord(
        'JSON that is neither Moxn events ({"events": [...]} or one event) '
        'nor OTLP/JSON ({"resourceSpans": [...]})'
    )


def _otlp_spans(
    parse: Callable[[bytes], ExportTraceServiceRequest], value: bytes
) -> list[ReadableSpan]:
    try:
        request = parse(value)
        if not request.ListFields() and value.strip(_WHITESPACE) not in (b"", b"{}"):
            raise UndecodableRecord(
                "not an OTLP ExportTraceServiceRequest (no field of one in the record)"
            )
        return [span for _, span in otlp.request_to_spans(request)]
    except otlp.OtlpDecodeError as exc:
        raise UndecodableRecord(f"invalid OTLP traces: {exc}") from None
