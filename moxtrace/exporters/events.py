"""From a finished span to Moxn ingest events (docs/wire-format.md, "From a span to events"),
and back.

A span becomes up to three ``TelemetryLogRequest`` events: ``span_start`` (sequence 0),
``llm_call`` (sequence 1, only when the span has ``gen_ai.operation.name``) and
``span_end`` or ``span_error`` (sequence 2). The mapping is written once, as JSON-ready
dicts (``span_to_wire``, what ``MoxnSpanExporter`` sends); ``span_to_events`` validates
the same dicts into models (what the server stores for spans that arrive as OTLP).

``wire_to_spans`` is the inverse: events (as ``span_to_wire`` writes them, or as any
Moxn SDK sends them) back into spans, so ``moxtrace collector`` can run span plugins on
events and hand them to span exporters. ``span_to_wire(wire_to_span(span_to_wire(s)))``
equals ``span_to_wire(s)``. What a span's events cannot say is marked on the rebuilt span
with reserved attributes (``WIRE_PARTIAL_ATTRIBUTE``, ``WIRE_CONTENT_KEY_ATTRIBUTE``) and
span events (``WIRE_EVENT_NAME``), which the collector's store sink reads back.

Pure functions: no I/O, no clock. Event ids are derived from the span's identity, so
exporting the same span twice yields the same events.
"""

from __future__ import annotations

import functools
import hashlib
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from moxtrace.tracing import semconv
from moxtrace.types.telemetry import TelemetryLogRequest

__all__ = [
    "EVENT_ID_NAMESPACE",
    "WIRE_CONTENT_KEY_ATTRIBUTE",
    "WIRE_EVENT_ATTRIBUTE",
    "WIRE_EVENT_NAME",
    "WIRE_PARTIAL_ATTRIBUTE",
    "span_to_events",
    "span_to_wire",
    "wire_to_span",
    "wire_to_spans",
]

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


# --- back: events to spans ------------------------------------------------------------

WIRE_PARTIAL_ATTRIBUTE = "moxn.wire.partial"
"""Set by ``wire_to_span`` on a span rebuilt without its start or its end event: the
lifecycle events it was rebuilt from, comma-separated (``span_start,llm_call``,
``span_end``, ``none``). Without an end the span ends when it starts; without a start
its name and times come from the end event and its attributes are only the Moxn identity
and what the ``llm_call`` event says."""

WIRE_CONTENT_KEY_ATTRIBUTE = "moxn.wire.content_storage_key"
"""Set by ``wire_to_span`` when the ``llm_call`` event's content was uploaded separately
(a signed URL): the storage key it was uploaded under."""

WIRE_EVENT_NAME = "moxn.wire.event"
"""Name of the span events ``wire_to_span`` adds for events outside the span's lifecycle
(``tool_call``, ``validation``, ``custom``, a second ``llm_call``, ...)."""

WIRE_EVENT_ATTRIBUTE = "moxn.wire.event"
"""Attribute of a ``WIRE_EVENT_NAME`` span event: the event itself, as JSON text."""

_KINDS_BY_NAME = {name: kind for kind, name in _KIND_NAMES.items()}
_STATUS_BY_NAME = {"UNSET": StatusCode.UNSET, "OK": StatusCode.OK, "ERROR": StatusCode.ERROR}
_END_TYPES = frozenset({"span_end", "span_error"})
_IDENTITY_FIELDS = (
    ("prompt_id", semconv.MOXN_PROMPT_ID),
    ("task_id", semconv.MOXN_TASK_ID),
    ("commit_id", semconv.MOXN_COMMIT_ID),
    ("branch_id", semconv.MOXN_BRANCH_ID),
)
_START_NAME_FIELDS = (
    ("prompt_name", semconv.MOXN_PROMPT_NAME),
    ("branch_name", semconv.MOXN_BRANCH_NAME),
    ("session_id", semconv.MOXN_SESSION_ID),
)
_LLM_FIELDS = (
    ("operation", semconv.GEN_AI_OPERATION_NAME),
    ("provider", semconv.GEN_AI_PROVIDER_NAME),
    ("request_model", semconv.GEN_AI_REQUEST_MODEL),
    ("response_model", semconv.GEN_AI_RESPONSE_MODEL),
    ("response_id", semconv.GEN_AI_RESPONSE_ID),
)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)
_PRIMITIVES = (str, bool, int, float)
_MAX_CACHED = 256
_resources: dict[bytes, Resource] = {}
_scopes: dict[tuple[str, str | None], InstrumentationScope] = {}


def wire_to_spans(events: Iterable[Mapping[str, Any]]) -> list[ReadableSpan]:
    """The spans of ``events`` (each span's events grouped by trace and span id, spans in
    the order their first event appears): ``wire_to_span`` of each group.

    >>> [s.name for s in wire_to_spans(span_to_wire(span))] == [span.name]
    True
    """
    groups: dict[tuple[Any, Any], list[Mapping[str, Any]]] = {}
    for event in events:
        trace_id, span_id = event.get("trace_id"), event.get("span_id")
        key = (
            trace_id.lower() if isinstance(trace_id, str) else trace_id,
            span_id.lower() if isinstance(span_id, str) else span_id,
        )
        group = groups.get(key)
        if group is None:
            groups[key] = [event]
        else:
            group.append(event)
    return [wire_to_span(group) for group in groups.values()]


def wire_to_span(events: Sequence[Mapping[str, Any]]) -> ReadableSpan:
    """The span that ``span_to_wire`` turned into ``events`` (those of one trace and span
    id, as JSON objects, in any order): the inverse of ``span_to_wire``.

    The first ``span_start``, ``span_end``/``span_error`` and ``llm_call`` make the span;
    any other event (``tool_call``, ``validation``, ``custom``, repeats) is kept whole as
    a span event ``WIRE_EVENT_NAME``. Content uploaded through a signed URL is not in the
    events: its storage key is kept in ``WIRE_CONTENT_KEY_ATTRIBUTE``. A span missing its
    start or end is marked with ``WIRE_PARTIAL_ATTRIBUTE``. Events from other senders may
    lack what ``span_to_wire`` writes: the Moxn identity and the ``llm_call`` metadata
    then fill the attributes they come from.

    Raises ``ValueError`` for no events, or ids that are not hex of the right width.
    """
    if not events:
        raise ValueError("wire_to_span needs at least one event")
    start = end = llm = None
    extra: list[Mapping[str, Any]] = []
    for event in events:
        event_type = event.get("event_type")
        if event_type == "span_start" and start is None:
            start = event
        elif event_type in _END_TYPES and end is None:
            end = event
        elif event_type == "llm_call" and llm is None:
            llm = event
        else:
            extra.append(event)
    lifecycle = [e for e in (start, llm, end) if e is not None]
    first = lifecycle[0] if lifecycle else events[0]
    trace_id = _hex_id(first.get("trace_id"), 32, "trace_id")
    span_id = _hex_id(first.get("span_id"), 16, "span_id")
    parent_hex = next(
        (e["parent_span_id"] for e in lifecycle if e.get("parent_span_id")),
        None if lifecycle else first.get("parent_span_id"),
    )
    parent = None
    if parent_hex:
        parent = SpanContext(trace_id, _hex_id(parent_hex, 16, "parent_span_id"), True)

    start_meta = _meta(start)
    end_meta = _meta(end)
    llm_meta = _meta(llm)
    attributes = _rebuilt_attributes(start, start_meta, lifecycle or [first], llm, llm_meta)

    start_ns, end_ns = _times(start, start_meta, end, end_meta, first)
    if start is None or end is None:
        attributes[WIRE_PARTIAL_ATTRIBUTE] = (
            ",".join(str(e.get("event_type")) for e in lifecycle) or "none"
        )

    name = (
        _str_or_none(start_meta.get("span_name"))
        or _str_or_none(end_meta.get("span_name"))
        or _str_or_none(llm_meta.get("span_name"))
        or str(first.get("event_type") or "span")
    )
    if end is None:
        status = Status(StatusCode.UNSET)
    else:
        code = _STATUS_BY_NAME.get(str(end_meta.get("status_code")), StatusCode.UNSET)
        if end.get("event_type") == "span_error":
            code = StatusCode.ERROR
        message = end_meta.get("status_message") if code is StatusCode.ERROR else None
        status = Status(code, message if isinstance(message, str) else None)

    span_events = [
        Event(
            str(item.get("name", "")),
            _rebuilt_mapping(item.get("attributes")),
            _time_ns(item.get("timestamp")) or end_ns,
        )
        for item in _list(end_meta.get("events"))
        if isinstance(item, Mapping)
    ]
    span_events.extend(
        Event(
            WIRE_EVENT_NAME,
            {WIRE_EVENT_ATTRIBUTE: _dumps(dict(event))},
            _time_ns(event.get("timestamp")) or end_ns,
        )
        for event in extra
    )
    scope_meta = _mapping(start_meta.get("scope"))
    return ReadableSpan(
        name=name,
        context=SpanContext(trace_id, span_id, False, TraceFlags(TraceFlags.SAMPLED)),
        parent=parent,
        resource=_resource(_mapping(start_meta.get("resource"))),
        attributes=attributes,
        events=span_events,
        links=_links(start_meta.get("links")),
        kind=_KINDS_BY_NAME.get(str(start_meta.get("span_kind")), SpanKind.INTERNAL),
        status=status,
        start_time=start_ns,
        end_time=end_ns,
        instrumentation_scope=_scope(scope_meta.get("name"), scope_meta.get("version")),
    )


def _rebuilt_attributes(
    start: Mapping[str, Any] | None,
    start_meta: Mapping[str, Any],
    lifecycle: Sequence[Mapping[str, Any]],
    llm: Mapping[str, Any] | None,
    llm_meta: Mapping[str, Any],
) -> dict[str, Any]:
    attributes = _rebuilt_mapping(start_meta.get("attributes"))
    user_metadata: Mapping[str, Any] = next(
        (e["user_metadata"] for e in lifecycle if isinstance(e.get("user_metadata"), Mapping)),
        {},
    )
    for key, value in user_metadata.items():
        converted = _attribute_value(value)
        if converted is not None:
            attributes[_METADATA_PREFIX + key] = converted
    # What span_to_wire reads from attributes is there already; other senders put it in
    # the events' own fields.
    for field, name in _IDENTITY_FIELDS:
        value = next((e[field] for e in lifecycle if e.get(field)), None)
        if value is not None and name not in attributes:
            attributes[name] = str(value)
    for field, name in _START_NAME_FIELDS:
        value = start_meta.get(field)
        if isinstance(value, str) and value and name not in attributes:
            attributes[name] = value
    if llm is None:
        return attributes
    content = llm.get("content")
    if isinstance(content, Mapping):
        for key, name in _CONTENT_KEYS:
            value = content.get(key)
            if value is not None:
                attributes[name] = _content_attribute(value)
    storage_key = llm.get("content_storage_key")
    if llm.get("content_stored") and isinstance(storage_key, str) and storage_key:
        attributes[WIRE_CONTENT_KEY_ATTRIBUTE] = storage_key
    for field, name in _LLM_FIELDS:
        value = llm_meta.get(field)
        if name not in attributes and isinstance(value, str) and value:
            attributes[name] = value
    if semconv.GEN_AI_OPERATION_NAME not in attributes:
        attributes[semconv.GEN_AI_OPERATION_NAME] = "chat"
    reasons = llm_meta.get("finish_reasons")
    if semconv.GEN_AI_RESPONSE_FINISH_REASONS not in attributes and reasons:
        converted = _attribute_value(reasons)
        if converted is not None:
            attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = converted
    usage = _mapping(llm_meta.get("usage"))
    for key, name in _USAGE_KEYS:
        value = usage.get(key)
        if name not in attributes and type(value) is int:
            attributes[name] = value
    tool_calls = llm_meta.get("tool_call_count")
    if (
        semconv.MOXN_LLM_TOOL_CALL_COUNT not in attributes
        and type(tool_calls) is int
        and tool_calls != _count_tool_calls(attributes)
    ):
        attributes[semconv.MOXN_LLM_TOOL_CALL_COUNT] = tool_calls
    return attributes


def _times(
    start: Mapping[str, Any] | None,
    start_meta: Mapping[str, Any],
    end: Mapping[str, Any] | None,
    end_meta: Mapping[str, Any],
    first: Mapping[str, Any],
) -> tuple[int, int]:
    start_ns = None
    if start is not None:
        start_ns = _time_ns(start_meta.get("start_time")) or _time_ns(start.get("timestamp"))
    end_ns = None
    if end is not None:
        end_ns = _time_ns(end_meta.get("end_time")) or _time_ns(end.get("timestamp"))
    duration = end_meta.get("duration_ms")
    duration_ns = None
    if isinstance(duration, int | float) and math.isfinite(duration) and duration >= 0:
        duration_ns = round(duration * 1e6)
    if start_ns is not None and end_ns is not None:
        if duration_ns is None:
            return start_ns, end_ns
        # The wire has microseconds and the duration; the span had nanoseconds. Pick the
        # sub-microsecond start that gives back both the exact duration and the end's
        # microsecond, so span_to_wire of the result repeats the events exactly.
        offset = max(0, end_ns - start_ns - duration_ns)
        if offset < 1000 and (start_ns + offset + duration_ns) // 1000 == end_ns // 1000:
            return start_ns + offset, start_ns + offset + duration_ns
        return start_ns, end_ns
    if start_ns is not None:
        return start_ns, start_ns
    if end_ns is not None:
        return end_ns - (duration_ns or 0), end_ns
    moment = _time_ns(first.get("timestamp"))
    if moment is None:
        raise ValueError("the events carry no usable time")
    return moment, moment


def _meta(event: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return _mapping(event.get("system_metadata")) if event is not None else {}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _hex_id(value: Any, width: int, field: str) -> int:
    if isinstance(value, str) and len(value) == width:
        try:
            number = int(value, 16)
        except ValueError:
            number = 0
        if number:
            return number
    raise ValueError(f"{field}: expected {width} hex digits, not all zero, got {value!r}")


def _time_ns(value: Any) -> int | None:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    elif isinstance(value, datetime):
        moment = value
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return ((moment - _EPOCH_UTC) // _ONE_US) * 1000


def _attribute_value(value: Any) -> Any:
    """A JSON value as an OpenTelemetry attribute value (None: leave it out)."""
    if value is None or type(value) in _PRIMITIVES:
        return value
    if isinstance(value, list):
        kinds = {type(item) for item in value}
        if not kinds or (len(kinds) == 1 and next(iter(kinds)) in _PRIMITIVES):
            return tuple(value)
    return _dumps(value)


def _rebuilt_mapping(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in _mapping(value).items():
        converted = _attribute_value(item)
        if converted is not None:
            out[str(key)] = converted
    return out


def _content_attribute(value: Any) -> str:
    # span_to_wire parses a content attribute as JSON and keeps the text when it is not:
    # text that would parse is written as a JSON string so it comes back as the same text.
    if isinstance(value, str):
        try:
            orjson.loads(value)
        except ValueError:
            return value
    return _dumps(value)


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        import json

        return json.dumps(value, default=str)


def _links(value: Any) -> list[Link]:
    links = []
    for item in _list(value):
        if not isinstance(item, Mapping):
            continue
        try:
            context = SpanContext(
                _hex_id(item.get("trace_id"), 32, "trace_id"),
                _hex_id(item.get("span_id"), 16, "span_id"),
                True,
            )
        except ValueError:
            continue
        links.append(Link(context, _rebuilt_mapping(item.get("attributes"))))
    return links


def _resource(attributes: Mapping[str, Any]) -> Resource:
    # Spans of one service share one resource: build it once (Resource validates).
    key = _dumps(attributes).encode()
    resource = _resources.get(key)
    if resource is None:
        if len(_resources) >= _MAX_CACHED:
            _resources.clear()
        resource = _resources[key] = Resource(_rebuilt_mapping(attributes))
    return resource


def _scope(name: Any, version: Any) -> InstrumentationScope:
    key = (str(name) if name is not None else "", str(version) if version is not None else None)
    scope = _scopes.get(key)
    if scope is None:
        if len(_scopes) >= _MAX_CACHED:
            _scopes.clear()
        scope = _scopes[key] = InstrumentationScope(key[0], key[1])
    return scope
