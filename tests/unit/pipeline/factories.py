"""Spans, events and records for the pipeline's unit tests."""

from __future__ import annotations

import json
from typing import Any

import orjson
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from moxtrace.exporters.events import span_to_wire
from moxtrace.pipeline.offsets import Ticket
from moxtrace.pipeline.processor import InRecord
from moxtrace.pipeline.topic import CONTENT_TYPE_HEADER, CONTENT_TYPE_MOXN_EVENTS

RESOURCE = Resource({"service.name": "unit"})
SCOPE = InstrumentationScope("tests", "1")


def span(
    trace_id: int = 0xABC,
    span_id: int = 0x1,
    *,
    name: str = "work",
    llm: bool = False,
    attributes: dict[str, Any] | None = None,
    error: bool = False,
) -> ReadableSpan:
    """A finished span (an LLM call with content when ``llm``)."""
    attrs: dict[str, Any] = {"index": span_id}
    if llm:
        attrs.update(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.usage.input_tokens": 3,
                "gen_ai.input.messages": json.dumps([{"role": "user", "parts": []}]),
            }
        )
    attrs.update(attributes or {})
    return ReadableSpan(
        name=name,
        context=SpanContext(trace_id, span_id, False, TraceFlags(1)),
        parent=None,
        resource=RESOURCE,
        attributes=attrs,
        events=[],
        links=[],
        kind=SpanKind.INTERNAL,
        status=Status(StatusCode.ERROR, "boom") if error else Status(StatusCode.UNSET),
        start_time=1_700_000_000_000_000_000 + span_id * 1000,
        end_time=1_700_000_000_500_000_000 + span_id * 1000,
        instrumentation_scope=SCOPE,
    )


def events_value(events: list[dict[str, Any]]) -> bytes:
    """A Moxn events record value."""
    return orjson.dumps({"events": events})


def moxn_record(
    events: list[dict[str, Any]],
    *,
    offset: int = 0,
    scope: object = ("t", 0),
    tenant: str | None = None,
) -> InRecord:
    """A Kafka record of Moxn events, with its own ticket."""
    headers = [(CONTENT_TYPE_HEADER, CONTENT_TYPE_MOXN_EVENTS.encode())]
    if tenant is not None:
        headers.append(("moxtrace-tenant", tenant.encode()))
    return InRecord(Ticket(offset), scope, events_value(events), headers)


def otlp_record(spans: list[ReadableSpan], *, offset: int = 0) -> InRecord:
    """A Kafka record as the OpenTelemetry Collector writes it (no headers)."""
    return InRecord(Ticket(offset), ("t", 0), encode_spans(spans).SerializeToString(), [])


def wire(s: ReadableSpan) -> list[dict[str, Any]]:
    """The span's events."""
    return span_to_wire(s)
