"""OTLP traces in: an ``ExportTraceServiceRequest`` (protobuf or OTLP/JSON) as OpenTelemetry
``ReadableSpan`` objects.

Written once and shared by everything that receives OTLP: ``moxtrace serve``
(``POST /v1/traces``) and ``moxtrace collector`` (Kafka records in the OpenTelemetry
Collector's ``otlp_proto`` / ``otlp_json`` encodings, and its own OTLP/HTTP receiver).
Each OTLP span is rebuilt as the ``ReadableSpan`` the SDK would have handed an exporter,
so whatever consumes spans (``span_to_wire``, the collector's plugins, an
``OTLPSpanExporter``) treats spans that came over the wire like local ones.

Problems raise ``OtlpDecodeError`` (a ``ValueError``) whose message names the place:
``resourceSpans[0].scopeSpans[0].spans[2].traceId: expected 16 bytes, got 3``.

OTLP/JSON differs from protobuf's JSON mapping in one way that matters: trace and span
ids are hex strings, not base64. They are converted before parsing.

Needs ``opentelemetry-proto`` (the ``server`` extra).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as ProtoStatus
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

__all__ = ["OtlpDecodeError", "parse_json", "parse_protobuf", "request_to_spans"]

_KINDS = {
    ProtoSpan.SPAN_KIND_UNSPECIFIED: SpanKind.INTERNAL,
    ProtoSpan.SPAN_KIND_INTERNAL: SpanKind.INTERNAL,
    ProtoSpan.SPAN_KIND_SERVER: SpanKind.SERVER,
    ProtoSpan.SPAN_KIND_CLIENT: SpanKind.CLIENT,
    ProtoSpan.SPAN_KIND_PRODUCER: SpanKind.PRODUCER,
    ProtoSpan.SPAN_KIND_CONSUMER: SpanKind.CONSUMER,
}
_STATUS = {
    ProtoStatus.STATUS_CODE_UNSET: StatusCode.UNSET,
    ProtoStatus.STATUS_CODE_OK: StatusCode.OK,
    ProtoStatus.STATUS_CODE_ERROR: StatusCode.ERROR,
}
_ID_FIELDS = (
    ("traceId", "trace_id", 16),
    ("spanId", "span_id", 8),
    ("parentSpanId", "parent_span_id", 8),
)
_PRIMITIVE_TYPES = (str, bool, int, float)


class OtlpDecodeError(ValueError):
    """The body is not a usable ``ExportTraceServiceRequest``; the message says where."""


def parse_protobuf(body: bytes) -> ExportTraceServiceRequest:
    """Parse a protobuf ``ExportTraceServiceRequest``."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise OtlpDecodeError(
            f"body: malformed ExportTraceServiceRequest protobuf ({exc})"
        ) from None
    return request


def _items(doc: dict[str, Any], path: str, *names: str) -> list[Any]:
    for name in names:
        if name in doc:
            value = doc[name]
            if value is None:
                return []
            if not isinstance(value, list):
                raise OtlpDecodeError(f"{path}{names[0]}: expected a JSON array")
            return value
    return []


def _hex_ids(doc: Any, path: str) -> None:
    if not isinstance(doc, dict):
        raise OtlpDecodeError(f"{path}: expected a JSON object")
    for camel, snake, width in _ID_FIELDS:
        for name in (camel, snake):
            value = doc.get(name)
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise OtlpDecodeError(f"{path}.{camel}: expected a hex string")
            try:
                raw = bytes.fromhex(value)
            except ValueError:
                raw = b""
            if len(raw) != width:
                raise OtlpDecodeError(f"{path}.{camel}: expected {width * 2} hex digits")
            doc[name] = base64.b64encode(raw).decode()


def parse_json(body: bytes) -> ExportTraceServiceRequest:
    """Parse an OTLP/JSON body (hex ids, enums as numbers or names, unknown fields ignored)."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise OtlpDecodeError(f"body: malformed JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise OtlpDecodeError("body: expected a JSON object with resourceSpans")
    for i, resource_spans in enumerate(_items(doc, "", "resourceSpans", "resource_spans")):
        rs_path = f"resourceSpans[{i}]"
        if not isinstance(resource_spans, dict):
            raise OtlpDecodeError(f"{rs_path}: expected a JSON object")
        for j, scope_spans in enumerate(
            _items(resource_spans, f"{rs_path}.", "scopeSpans", "scope_spans")
        ):
            ss_path = f"{rs_path}.scopeSpans[{j}]"
            if not isinstance(scope_spans, dict):
                raise OtlpDecodeError(f"{ss_path}: expected a JSON object")
            for k, span in enumerate(_items(scope_spans, f"{ss_path}.", "spans")):
                span_path = f"{ss_path}.spans[{k}]"
                _hex_ids(span, span_path)
                for n, link in enumerate(_items(span, f"{span_path}.", "links")):
                    _hex_ids(link, f"{span_path}.links[{n}]")
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(doc, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise OtlpDecodeError(f"body: invalid OTLP/JSON ({exc})") from None
    return request


def _value(value: AnyValue, depth: int = 0) -> Any:
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return value.bool_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if depth > 16:
        return None
    if which == "array_value":
        items = [_value(item, depth + 1) for item in value.array_value.values]
        kinds = {type(item) for item in items}
        if len(kinds) == 1 and next(iter(kinds)) in _PRIMITIVE_TYPES:
            return tuple(items)
        return json.dumps(items, separators=(",", ":"), default=str)
    if which == "kvlist_value":
        mapping = {kv.key: _value(kv.value, depth + 1) for kv in value.kvlist_value.values}
        return json.dumps(mapping, separators=(",", ":"), default=str)
    return None


def _attributes(pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    kv: KeyValue
    for kv in pairs:
        converted = _value(kv.value)
        if converted is not None and converted != ():
            out[kv.key] = converted
    return out


def _status(status: ProtoStatus) -> Status:
    code = _STATUS.get(status.code, StatusCode.UNSET)
    # The SDK logs a warning for a description on a non-error status; OTLP allows it.
    return Status(code, status.message or None if code is StatusCode.ERROR else None)


def _id(raw: bytes, width: int, path: str) -> int:
    if len(raw) != width:
        raise OtlpDecodeError(f"{path}: expected {width} bytes, got {len(raw)}")
    number = int.from_bytes(raw, "big")
    if number == 0:
        raise OtlpDecodeError(f"{path}: must not be all zero")
    return number


def request_to_spans(request: ExportTraceServiceRequest) -> Iterator[tuple[str, ReadableSpan]]:
    """(path, span) for each span, the path like ``resourceSpans[0].scopeSpans[0].spans[2]``.

    Raises ``OtlpDecodeError`` (when the iteration reaches it) for a span whose ids are
    missing, all zero or of the wrong width.
    """
    for i, resource_spans in enumerate(request.resource_spans):
        resource = Resource(
            _attributes(resource_spans.resource.attributes), resource_spans.schema_url or None
        )
        for j, scope_spans in enumerate(resource_spans.scope_spans):
            scope = InstrumentationScope(
                scope_spans.scope.name,
                scope_spans.scope.version or None,
                scope_spans.schema_url or None,
            )
            for k, span in enumerate(scope_spans.spans):
                path = f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]"
                trace_id = _id(span.trace_id, 16, f"{path}.traceId")
                span_id = _id(span.span_id, 8, f"{path}.spanId")
                parent = None
                if span.parent_span_id:
                    parent = SpanContext(
                        trace_id, _id(span.parent_span_id, 8, f"{path}.parentSpanId"), True
                    )
                links = [
                    Link(
                        SpanContext(
                            _id(link.trace_id, 16, f"{path}.links[{n}].traceId"),
                            _id(link.span_id, 8, f"{path}.links[{n}].spanId"),
                            True,
                        ),
                        _attributes(link.attributes),
                    )
                    for n, link in enumerate(span.links)
                ]
                events = [
                    Event(e.name, _attributes(e.attributes), e.time_unix_nano or None)
                    for e in span.events
                ]
                yield (
                    path,
                    ReadableSpan(
                        name=span.name,
                        context=SpanContext(
                            trace_id, span_id, False, TraceFlags(span.flags & 0xFF)
                        ),
                        parent=parent,
                        resource=resource,
                        attributes=_attributes(span.attributes),
                        events=events,
                        links=links,
                        kind=_KINDS.get(span.kind, SpanKind.INTERNAL),
                        status=_status(span.status),
                        start_time=span.start_time_unix_nano or None,
                        end_time=span.end_time_unix_nano or None,
                        instrumentation_scope=scope,
                    ),
                )
