"""OTLP/HTTP traces: decode an ``ExportTraceServiceRequest`` (protobuf or JSON) into events.

Decoding is ``moxtrace.otlp`` (shared with ``moxtrace collector``); this module turns its
``OtlpDecodeError`` into the server's 400 ``invalid_payload``. Each span is then mapped by
``moxtrace.exporters.events.span_to_wire`` (``span_to_events`` without the final
validation, which the server does itself, as for every route), the function
``MoxnSpanExporter`` uses: a span stored through OTLP is the same as one sent by the
Moxn exporter.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf import json_format  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan

from moxtrace import otlp
from moxtrace.exporters.events import span_to_wire
from moxtrace.server.assemble import WireEvent
from moxtrace.server.errors import invalid_payload
from moxtrace.server.payloads import validate_events

__all__ = [
    "decode_json",
    "decode_protobuf",
    "export_response",
    "request_to_events",
    "request_to_spans",
]


def decode_protobuf(body: bytes) -> ExportTraceServiceRequest:
    """Parse a protobuf body; 400 naming the message when it is not one."""
    try:
        return otlp.parse_protobuf(body)
    except otlp.OtlpDecodeError as exc:
        raise invalid_payload(str(exc)) from None


def decode_json(body: bytes) -> ExportTraceServiceRequest:
    """Parse an OTLP/JSON body (hex ids, enums as numbers or names, unknown fields ignored)."""
    try:
        return otlp.parse_json(body)
    except otlp.OtlpDecodeError as exc:
        raise invalid_payload(str(exc)) from None


def export_response(json_reply: bool) -> tuple[bytes, str]:
    """An empty ``ExportTraceServiceResponse`` (all spans accepted) and its media type."""
    response = ExportTraceServiceResponse()
    if json_reply:
        return json_format.MessageToJson(response).encode(), "application/json"
    return response.SerializeToString(), "application/x-protobuf"


def request_to_spans(request: ExportTraceServiceRequest) -> Iterator[tuple[str, ReadableSpan]]:
    """(path, span) for each span, the path like ``resourceSpans[0].scopeSpans[0].spans[2]``;
    400 naming the first span whose ids are unusable."""
    try:
        yield from otlp.request_to_spans(request)
    except otlp.OtlpDecodeError as exc:
        raise invalid_payload(str(exc)) from None


def request_to_events(request: ExportTraceServiceRequest) -> list[WireEvent]:
    """Every span of the request as ingest events; 400 naming the first span that fails.

    The events are ``span_to_wire``'s JSON objects validated as ``TelemetryLogRequest``:
    what ``span_to_events`` returns, with the objects kept to be stored as sent.
    """
    out: list[WireEvent] = []
    for path, span in request_to_spans(request):
        try:
            wire = span_to_wire(span)
        except ValueError as exc:
            raise invalid_payload(f"{path}: {exc}") from None
        out.extend(validate_events(wire, f"{path}.events"))
    return out
