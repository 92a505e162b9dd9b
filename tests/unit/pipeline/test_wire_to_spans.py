"""``wire_to_spans``: Moxn events back into spans, the inverse of ``span_to_wire``."""

from __future__ import annotations

import json
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from moxtrace import PromptSession, Provider, SyncMoxnClient
from moxtrace.exporters.events import (
    WIRE_CONTENT_KEY_ATTRIBUTE,
    WIRE_EVENT_ATTRIBUTE,
    WIRE_EVENT_NAME,
    WIRE_PARTIAL_ATTRIBUTE,
    span_to_wire,
    wire_to_span,
    wire_to_spans,
)
from moxtrace.types import CompletionConfig, Message, MessageRole, PromptTemplate, TextContent

TRACE = 0x0AF7651916CD43DD8448EB211C80319C
RESPONSE: dict[str, Any] = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4",
    "content": [
        {"type": "text", "text": "Your order ships tomorrow."},
        {"type": "tool_use", "id": "tu_1", "name": "lookup", "input": {"order": "o1"}},
    ],
    "stop_reason": "tool_use",
    "usage": {"input_tokens": 20, "output_tokens": 14, "cache_read_input_tokens": 100},
}


def client_spans() -> list[ReadableSpan]:
    """Real moxtrace spans: a prompt span with an LLM call and metadata, and a failing child."""
    prompt = PromptTemplate(
        id=uuid.uuid4(),
        name="support-answer",
        task_id=uuid.uuid4(),
        branch_id=uuid.uuid4(),
        branch_name="main",
        messages=[
            Message(
                id=uuid.uuid4(),
                name="system",
                role=MessageRole.SYSTEM,
                blocks=[[TextContent(text="You are a helpful support agent.")]],
            )
        ],
        completion_config=CompletionConfig(provider=Provider.ANTHROPIC, model="claude-sonnet-4"),
    )
    memory = InMemorySpanExporter()
    client = SyncMoxnClient(span_processors=[SimpleSpanProcessor(memory)])
    session = PromptSession(prompt)
    with client.span(session, metadata={"customer_id": "c1", "attempt": 2}):
        client.log_telemetry_event_from_response(session, RESPONSE, Provider.ANTHROPIC)
        try:
            with client.span(session, name="lookup"):
                raise RuntimeError("order service down")
        except RuntimeError:
            pass
    client.close()
    return list(memory.get_finished_spans())


def handmade(**overrides: Any) -> ReadableSpan:
    """A span as another instrumentation makes it: nanosecond times, links, odd values."""
    base: dict[str, Any] = {
        "name": "GET /orders",
        "context": SpanContext(TRACE, 0x00F067AA0BA902B7, False, TraceFlags(1)),
        "parent": SpanContext(TRACE, 0x1111111111111111, True),
        "resource": Resource({"service.name": "orders", "host.cores": 2}),
        "attributes": {
            "http.request.method": "GET",
            "http.response.status_code": 200,
            "ratio": 0.25,
            "ok": True,
            "tags": ("a", "b"),
            "codes": (1, 2, 3),
            "empty": (),
        },
        "events": [Event("retry", {"attempt": 1}, 1_700_000_000_123_456_789)],
        "links": [Link(SpanContext(0x1234, 0x5678, True), {"why": "batch"})],
        "kind": SpanKind.SERVER,
        "status": Status(StatusCode.OK),
        "start_time": 1_700_000_000_000_000_123,
        "end_time": 1_700_000_000_250_000_999,
        "instrumentation_scope": InstrumentationScope("opentelemetry.instrumentation.x", "0.1"),
    }
    base.update(overrides)
    return ReadableSpan(**base)


def round_trip(span: ReadableSpan) -> None:
    wire = span_to_wire(span)
    (back,) = wire_to_spans(wire)
    assert span_to_wire(back) == wire
    # What a consumer of spans reads (a plugin, an OTLP backend) is the span's too.
    assert back.name == span.name
    assert back.context.trace_id == span.context.trace_id
    assert back.context.span_id == span.context.span_id
    assert (back.parent.span_id if back.parent else None) == (
        span.parent.span_id if span.parent else None
    )
    assert back.kind == span.kind
    assert back.status.status_code == span.status.status_code
    assert back.end_time - back.start_time == span.end_time - span.start_time
    assert WIRE_PARTIAL_ATTRIBUTE not in back.attributes


def test_round_trip_of_real_moxtrace_spans() -> None:
    spans = client_spans()
    assert len(spans) == 2
    for span in spans:
        round_trip(span)
    root = next(s for s in spans if s.parent is None)
    (back,) = wire_to_spans(span_to_wire(root))
    assert back.attributes["moxn.metadata.customer_id"] == "c1"
    assert (
        back.attributes["gen_ai.usage.input_tokens"] == root.attributes["gen_ai.usage.input_tokens"]
    )
    assert json.loads(back.attributes["gen_ai.output.messages"]) == json.loads(
        root.attributes["gen_ai.output.messages"]
    )


def test_round_trip_of_an_error_span_with_an_exception_event() -> None:
    failed = next(s for s in client_spans() if s.name == "lookup")
    assert failed.status.status_code is StatusCode.ERROR
    (back,) = wire_to_spans(span_to_wire(failed))
    assert back.status.description == failed.status.description
    assert [e.name for e in back.events] == ["exception"]
    assert back.events[0].attributes["exception.message"] == "order service down"
    round_trip(failed)


def test_round_trip_of_a_span_from_another_instrumentation() -> None:
    span = handmade()
    round_trip(span)
    (back,) = wire_to_spans(span_to_wire(span))
    assert back.attributes["tags"] == ("a", "b")
    assert back.resource.attributes["host.cores"] == 2
    assert back.links[0].attributes == {"why": "batch"}
    assert back.instrumentation_scope.name == "opentelemetry.instrumentation.x"
    assert back.events[0].timestamp == 1_700_000_000_123_456_000
    # The nanoseconds: the duration is exact, the times are the same microseconds.
    assert back.end_time - back.start_time == 250_000_876


@pytest.mark.parametrize(
    "content",
    [
        '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]',
        "plain text, cut short {",
        '"a JSON string"',
        "123",
    ],
)
def test_round_trip_of_content_attributes(content: str) -> None:
    span = handmade(attributes={"gen_ai.operation.name": "chat", "gen_ai.input.messages": content})
    round_trip(span)


def test_events_of_several_spans_in_any_order() -> None:
    spans = client_spans()
    wire = [event for span in spans for event in span_to_wire(span)]
    back = wire_to_spans(list(reversed(wire)))
    assert sorted(s.context.span_id for s in back) == sorted(s.context.span_id for s in spans)
    for span in back:
        assert WIRE_PARTIAL_ATTRIBUTE not in span.attributes


def test_a_span_missing_its_end_or_start_is_marked_partial() -> None:
    start, llm, end = span_to_wire(client_spans()[1])
    only_start = wire_to_span([start])
    assert only_start.attributes[WIRE_PARTIAL_ATTRIBUTE] == "span_start"
    assert only_start.end_time == only_start.start_time
    only_end = wire_to_span([llm, end])
    assert only_end.attributes[WIRE_PARTIAL_ATTRIBUTE] == "llm_call,span_end"
    assert only_end.name == start["system_metadata"]["span_name"]
    assert only_end.end_time - only_end.start_time == round(
        end["system_metadata"]["duration_ms"] * 1e6
    )
    # The identity and the LLM call survive without the start event.
    assert only_end.attributes["moxn.prompt.id"] == start["prompt_id"]
    assert only_end.attributes["gen_ai.provider.name"] == "anthropic"
    assert wire_to_span([llm]).attributes[WIRE_PARTIAL_ATTRIBUTE] == "llm_call"
    assert wire_to_span([start, llm]).attributes[WIRE_PARTIAL_ATTRIBUTE] == "span_start,llm_call"
    tool = {**start, "event_type": "tool_call", "sequence_number": 5}
    assert wire_to_span([tool]).attributes[WIRE_PARTIAL_ATTRIBUTE] == "none"


def test_other_events_are_kept_whole_as_span_events() -> None:
    start, llm, end = span_to_wire(client_spans()[1])
    tool = {
        **start,
        "id": str(uuid.uuid4()),
        "event_type": "tool_call",
        "sequence_number": 7,
        "system_metadata": {"tool": "lookup"},
        "content": {"result": "shipped"},
    }
    span = wire_to_span([start, tool, llm, end])
    (kept,) = [e for e in span.events if e.name == WIRE_EVENT_NAME]
    assert orjson.loads(kept.attributes[WIRE_EVENT_ATTRIBUTE]) == tool


def test_events_from_another_sender_fill_the_attributes() -> None:
    """Events as a Moxn SDK sends them: identity in fields, llm_call metadata only."""
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    prompt_id = str(uuid.uuid4())
    common = {"trace_id": trace_id, "span_id": span_id, "prompt_id": prompt_id}
    events = [
        {
            **common,
            "event_type": "span_start",
            "sequence_number": 0,
            "timestamp": "2024-05-01T10:00:00Z",
            "system_metadata": {"span_name": "answer", "prompt_name": "support"},
            "user_metadata": {"user": "u1"},
        },
        {
            **common,
            "event_type": "llm_call",
            "sequence_number": 1,
            "timestamp": "2024-05-01T10:00:01.500Z",
            "system_metadata": {
                "provider": "openai",
                "response_model": "gpt-5",
                "usage": {"input_tokens": 10, "output_tokens": 3},
                "finish_reasons": ["stop"],
            },
            "content": {"output_messages": [{"role": "assistant", "parts": []}]},
            "content_stored": False,
        },
        {
            **common,
            "event_type": "span_end",
            "sequence_number": 2,
            "timestamp": "2024-05-01T10:00:02Z",
            "system_metadata": {},
        },
    ]
    span = wire_to_span(events)
    attrs = span.attributes
    assert attrs["moxn.prompt.id"] == prompt_id
    assert attrs["moxn.prompt.name"] == "support"
    assert attrs["moxn.metadata.user"] == "u1"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.usage.input_tokens"] == 10
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert span.end_time - span.start_time == 2_000_000_000
    llm = next(e for e in span_to_wire(span) if e["event_type"] == "llm_call")
    assert llm["system_metadata"]["usage"]["output_tokens"] == 3


def test_content_uploaded_through_a_signed_url_keeps_its_key() -> None:
    start, llm, end = span_to_wire(client_spans()[1])
    uploaded = {**llm, "content": None, "content_stored": True, "content_storage_key": "k/1"}
    span = wire_to_span([start, uploaded, end])
    assert span.attributes[WIRE_CONTENT_KEY_ATTRIBUTE] == "k/1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"trace_id": "xyz"}, "trace_id"),
        ({"span_id": "0" * 16}, "span_id"),
        ({"parent_span_id": "12"}, "parent_span_id"),
    ],
)
def test_bad_ids_raise_value_error(change: dict[str, Any], message: str) -> None:
    start = span_to_wire(handmade())[0]
    with pytest.raises(ValueError, match=message):
        wire_to_span([{**start, **change}])


def test_no_events_raise_value_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        wire_to_span([])


_values = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.text(max_size=5), max_size=3).map(tuple),
    st.lists(st.integers(min_value=0, max_value=9), max_size=3).map(tuple),
)
_keys = st.text(alphabet=st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(
    attributes=st.dictionaries(_keys, _values, max_size=6),
    metadata=st.dictionaries(_keys, _values, max_size=3),
    start=st.integers(min_value=0, max_value=2**62),
    duration=st.integers(min_value=0, max_value=10**12),
    error=st.booleans(),
    llm=st.booleans(),
    kind=st.sampled_from(list(SpanKind)),
)
def test_round_trip_property(
    attributes: dict[str, Any],
    metadata: dict[str, Any],
    start: int,
    duration: int,
    error: bool,
    llm: bool,
    kind: SpanKind,
) -> None:
    attrs = dict(attributes)
    attrs.update({f"moxn.metadata.{k}": v for k, v in metadata.items()})
    if llm:
        attrs["gen_ai.operation.name"] = "chat"
    status = Status(StatusCode.ERROR, "boom") if error else Status(StatusCode.UNSET)
    round_trip(
        handmade(
            attributes=attrs,
            start_time=start,
            end_time=start + duration,
            status=status,
            kind=kind,
        )
    )
