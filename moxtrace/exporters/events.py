"""From a finished span to Moxn ingest events (docs/wire-format.md, "From a span to events").

A span becomes up to three ``TelemetryLogRequest`` events: ``span_start`` (sequence 0),
``llm_call`` (sequence 1, only when the span has ``gen_ai.operation.name``) and
``span_end`` or ``span_error`` (sequence 2). The mapping is written once, as JSON-ready
dicts (``span_to_wire``, what ``MoxnSpanExporter`` sends); ``span_to_events`` validates
the same dicts into models (what the server stores for spans that arrive as OTLP).

Pure functions: no I/O, no clock. Event ids are derived from the span's identity, so
exporting the same span twice yields the same events.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from moxtrace.tracing import semconv
from moxtrace.types.telemetry import TelemetryLogRequest

__all__ = ["EVENT_ID_NAMESPACE", "span_to_events", "span_to_wire"]

EVENT_ID_NAMESPACE = uuid.UUID("6f1d3c1e-3f0a-5b8e-9d57-6d6f78747263")
"""Namespace of the event ids: ``uuid5(EVENT_ID_NAMESPACE, "<trace>-<span>-<seq>")``."""

_CONTENT_KEYS = (
    ("input_messages", semconv.GEN_AI_INPUT_MESSAGES),
    ("output_messages", semconv.GEN_AI_OUTPUT_MESSAGES),
    ("system_instructions", semconv.GEN_AI_SYSTEM_INSTRUCTIONS),
    ("tool_definitions", semconv.GEN_AI_TOOL_DEFINITIONS),
)
_USAGE_KEYS = (
    ("input_tokens", semconv.GEN_AI_USAGE_INPUT_TOKENS),
    ("output_tokens", semconv.GEN_AI_USAGE_OUTPUT_TOKENS),
    ("reasoning_tokens", semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
    ("cache_read_input_tokens", semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
    ("cache_creation_input_tokens", semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS),
)
_KIND_NAMES = {
    SpanKind.INTERNAL: "internal",
    SpanKind.SERVER: "server",
    SpanKind.CLIENT: "client",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
}
_EXCLUDED = semconv.CONTENT_ATTRIBUTES
_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes
_EPOCH = datetime(1970, 1, 1)
_METADATA_PREFIX = semconv.MOXN_METADATA_PREFIX


def span_to_events(
    span: ReadableSpan, *, include_content: bool = True
) -> list[TelemetryLogRequest]:
    """The ingest events of a finished span, in sequence order.

    ``include_content=False`` leaves the ``llm_call`` event's ``content`` null (the
    content attributes never appear in ``system_metadata``). Raises ``ValueError`` for
    a span without a valid trace id and span id, or without any timestamp.

    >>> [e.event_type.value for e in span_to_events(span)]
    ['span_start', 'llm_call', 'span_end']
    """
    return [
        TelemetryLogRequest.model_validate(event)
        for event in span_to_wire(span, include_content=include_content)
    ]


def span_to_wire(span: ReadableSpan, *, include_content: bool = True) -> list[dict[str, Any]]:
    """The events of ``span_to_events`` as JSON-ready dicts, exactly as sent on the wire.

    Each dict validates into the matching ``TelemetryLogRequest``.
    """
    ctx = span.context
    if ctx is None or not ctx.trace_id or not ctx.span_id:
        raise ValueError(f"span {span.name!r} has no valid trace id and span id")
    trace_id = format(ctx.trace_id, "032x")
    span_id = format(ctx.span_id, "016x")
    parent = span.parent
    parent_span_id = format(parent.span_id, "016x") if parent and parent.span_id else None

    start_ns = span.start_time if span.start_time is not None else span.end_time
    end_ns = span.end_time if span.end_time is not None else start_ns
    if start_ns is None or end_ns is None:
        raise ValueError(f"span {span.name!r} has neither a start nor an end time")
    start_iso = _iso(start_ns)
    end_iso = _iso(end_ns)

    # One pass over the SDK's BoundedAttributes; every later lookup hits a plain dict.
    raw_attrs: dict[str, Any] = dict(span.attributes or {})
    attributes: dict[str, Any] = {}
    user_metadata: dict[str, Any] = {}
    for key, value in raw_attrs.items():
        if key.startswith(_METADATA_PREFIX):
            user_metadata[key[len(_METADATA_PREFIX) :]] = _json_value(value)
        elif key not in _EXCLUDED:
            attributes[key] = _json_value(value)

    common = _identity(raw_attrs)
    common["trace_id"] = trace_id
    common["span_id"] = span_id
    common["parent_span_id"] = parent_span_id
    prefix = f"{trace_id}-{span_id}-"
    name = span.name

    resource_attrs = _resource_attributes(span.resource)
    scope = span.instrumentation_scope
    start_meta: dict[str, Any] = {
        "span_name": name,
        "span_kind": _KIND_NAMES.get(span.kind, "internal"),
        "start_time": start_iso,
        "attributes": attributes,
        "resource": resource_attrs,
        "service_name": resource_attrs.get("service.name"),
        "scope": {
            "name": scope.name if scope is not None else None,
            "version": scope.version if scope is not None else None,
        },
        "links": [
            {
                "trace_id": format(link.context.trace_id, "032x"),
                "span_id": format(link.context.span_id, "016x"),
                "attributes": _json_attributes(link.attributes),
            }
            for link in span.links
        ],
        "prompt_name": _str_or_none(raw_attrs.get(semconv.MOXN_PROMPT_NAME)),
        "branch_name": _str_or_none(raw_attrs.get(semconv.MOXN_BRANCH_NAME)),
        "session_id": _str_or_none(raw_attrs.get(semconv.MOXN_SESSION_ID)),
    }
    events = [_event(prefix, "span_start", 0, start_iso, common, user_metadata, start_meta)]

    if semconv.GEN_AI_OPERATION_NAME in raw_attrs:
        content = _content(raw_attrs) if include_content else None
        llm_meta = _llm_metadata(name, raw_attrs, content)
        llm = _event(prefix, "llm_call", 1, end_iso, common, user_metadata, llm_meta)
        llm["content"] = content
        events.append(llm)

    status = span.status
    status_code = status.status_code if status is not None else StatusCode.UNSET
    end_meta: dict[str, Any] = {
        "span_name": name,
        "end_time": end_iso,
        "duration_ms": (end_ns - start_ns) / 1e6,
        "status_code": status_code.name,
        "status_message": status.description if status is not None else None,
        "events": [
            {
                "name": event.name,
                "timestamp": _iso(event.timestamp),
                "attributes": _json_attributes(event.attributes),
            }
            for event in span.events
        ],
    }
    end_type = "span_error" if status_code is StatusCode.ERROR else "span_end"
    events.append(_event(prefix, end_type, 2, end_iso, common, user_metadata, end_meta))
    return events


def _event(
    prefix: str,
    event_type: str,
    sequence: int,
    timestamp: str,
    common: dict[str, Any],
    user_metadata: dict[str, Any],
    system_metadata: dict[str, Any],
) -> dict[str, Any]:
    return {
        "id": _event_id(f"{prefix}{sequence}"),
        "timestamp": timestamp,
        "event_type": event_type,
        "sequence_number": sequence,
        **common,
        "system_metadata": system_metadata,
        "user_metadata": user_metadata,
        "content": None,
        "content_stored": False,
        "content_storage_key": None,
    }


def _identity(attrs: Mapping[str, Any]) -> dict[str, Any]:
    commit_id = attrs.get(semconv.MOXN_COMMIT_ID)
    commit = commit_id if isinstance(commit_id, str) and commit_id else None
    return {
        "prompt_id": _uuid_or_none(attrs.get(semconv.MOXN_PROMPT_ID)),
        "task_id": _uuid_or_none(attrs.get(semconv.MOXN_TASK_ID)),
        "commit_id": commit,
        "branch_id": None if commit else _uuid_or_none(attrs.get(semconv.MOXN_BRANCH_ID)),
    }


def _llm_metadata(
    name: str, attrs: Mapping[str, Any], content: dict[str, Any] | None
) -> dict[str, Any]:
    reasons = attrs.get(semconv.GEN_AI_RESPONSE_FINISH_REASONS)
    if reasons is None:
        finish_reasons: list[Any] = []
    elif isinstance(reasons, str):
        finish_reasons = [reasons]
    else:
        finish_reasons = list(reasons)
    tool_calls = attrs.get(semconv.MOXN_LLM_TOOL_CALL_COUNT)
    if not isinstance(tool_calls, int) or isinstance(tool_calls, bool):
        tool_calls = _count_tool_calls(attrs)
    return {
        "span_name": name,
        "provider": attrs.get(semconv.GEN_AI_PROVIDER_NAME),
        "operation": attrs.get(semconv.GEN_AI_OPERATION_NAME),
        "request_model": attrs.get(semconv.GEN_AI_REQUEST_MODEL),
        "response_model": attrs.get(semconv.GEN_AI_RESPONSE_MODEL),
        "response_id": attrs.get(semconv.GEN_AI_RESPONSE_ID),
        "finish_reasons": finish_reasons,
        "usage": {key: attrs.get(name) for key, name in _USAGE_KEYS},
        "tool_call_count": tool_calls,
    }


def _count_tool_calls(attrs: Mapping[str, Any]) -> int | None:
    # Spans from other instrumentations carry no moxn count; their output messages do.
    raw = attrs.get(semconv.GEN_AI_OUTPUT_MESSAGES)
    if not isinstance(raw, str):
        return None
    try:
        messages = orjson.loads(raw)
    except ValueError:
        return None
    if not isinstance(messages, list):
        return None
    return sum(
        1
        for message in messages
        if isinstance(message, dict)
        for part in message.get("parts") or ()
        if isinstance(part, dict) and part.get("type") == "tool_call"
    )


def _content(attrs: Mapping[str, Any]) -> dict[str, Any] | None:
    content: dict[str, Any] = {}
    for key, name in _CONTENT_KEYS:
        raw = attrs.get(name)
        if raw is None:
            continue
        if isinstance(raw, str):
            try:
                content[key] = orjson.loads(raw)
            except ValueError:
                # Cut to the attribute length limit (moxn.truncated): keep the text.
                content[key] = raw
        else:
            content[key] = _json_value(raw)
    return content or None


def _event_id(name: str) -> str:
    # uuid.uuid5, spelled out: the UUID class costs more than the hash on this path.
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _iso(ns: int) -> str:
    moment = _EPOCH + timedelta(microseconds=ns // 1000)
    return moment.isoformat(timespec="microseconds") + "Z"


def _json_value(value: Any) -> Any:
    if type(value) is tuple:
        return list(value)
    return value


def _json_attributes(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    if not attrs:
        return {}
    return {k: _json_value(v) for k, v in attrs.items()}


_last_resource: tuple[Resource | None, dict[str, Any]] = (None, {})


def _resource_attributes(resource: Resource) -> dict[str, Any]:
    # A process has one resource: convert it once, not once per span.
    global _last_resource
    last, attrs = _last_resource
    if resource is not last:
        attrs = {k: _json_value(v) for k, v in resource.attributes.items()}
        _last_resource = (resource, attrs)
    return attrs


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _uuid_or_none(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return _canonical_uuid(value)


@functools.lru_cache(maxsize=4096)
def _canonical_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
