"""span_to_events / span_to_wire: docs/wire-format.md, "From a span to events"."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from moxtrace import PromptSession, Provider, SyncMoxnClient
from moxtrace.exporters import span_to_events, span_to_wire
from moxtrace.exporters.events import EVENT_ID_NAMESPACE
from moxtrace.tracing import semconv
from moxtrace.types import TelemetryEventType, TelemetryLogRequest
from tests.unit.exporters.factories import ANTHROPIC_RESPONSE, finished, make_prompt

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0xB7AD6B7169203331
PARENT_ID = 0x00F067AA0BA902B7
START_NS = 1_700_000_000_123_456_789
END_NS = START_NS + 250_500_000
PROMPT_ID = "5f0c4a7e-1d2b-4c3d-8e9f-0a1b2c3d4e5f"
TASK_ID = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f2a3b4c5d"
BRANCH_ID = "11111111-2222-4333-8444-555555555555"
SESSION_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"

INPUT = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
OUTPUT = [
    {
        "role": "assistant",
        "parts": [
            {"type": "text", "content": "hello"},
            {"type": "tool_call", "id": "t1", "name": "f", "arguments": {}},
        ],
        "finish_reason": "tool_call",
    }
]
SYSTEM = [{"type": "text", "content": "be nice"}]
TOOLS = [{"type": "function", "name": "f", "parameters": {}}]


def llm_attributes(**extra: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        semconv.MOXN_PROMPT_ID: PROMPT_ID,
        semconv.MOXN_PROMPT_NAME: "support",
        semconv.MOXN_TASK_ID: TASK_ID,
        semconv.MOXN_BRANCH_ID: BRANCH_ID,
        semconv.MOXN_BRANCH_NAME: "main",
        semconv.MOXN_SESSION_ID: SESSION_ID,
        semconv.MOXN_METADATA_PREFIX + "customer_id": "c1",
        semconv.MOXN_METADATA_PREFIX + "tags": ("a", "b"),
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "anthropic",
        semconv.GEN_AI_REQUEST_MODEL: "claude-sonnet-4",
        semconv.GEN_AI_RESPONSE_MODEL: "claude-sonnet-4-20250514",
        semconv.GEN_AI_RESPONSE_ID: "msg_1",
        semconv.GEN_AI_RESPONSE_FINISH_REASONS: ("tool_call",),
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 120,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 14,
        semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 100,
        semconv.MOXN_LLM_TOOL_CALL_COUNT: 1,
        semconv.GEN_AI_INPUT_MESSAGES: json.dumps(INPUT),
        semconv.GEN_AI_OUTPUT_MESSAGES: json.dumps(OUTPUT),
        semconv.GEN_AI_SYSTEM_INSTRUCTIONS: json.dumps(SYSTEM),
        semconv.GEN_AI_TOOL_DEFINITIONS: json.dumps(TOOLS),
    }
    attrs.update(extra)
    return attrs


def make_span(
    attributes: dict[str, Any] | None = None,
    *,
    status: Status | None = None,
    events: tuple[Event, ...] = (),
    links: tuple[Link, ...] = (),
    parent: int | None = PARENT_ID,
    kind: SpanKind = SpanKind.CLIENT,
    start: int | None = START_NS,
    end: int | None = END_NS,
    trace_id: int = TRACE_ID,
    span_id: int = SPAN_ID,
) -> ReadableSpan:
    """A span the way the server rebuilds one from OTLP: only the public constructor."""
    return ReadableSpan(
        name="chat claude-sonnet-4",
        context=SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(1)),
        parent=SpanContext(TRACE_ID, parent, is_remote=False) if parent is not None else None,
        resource=Resource({"service.name": "checkout", "deployment.environment": "test"}),
        attributes=llm_attributes() if attributes is None else attributes,
        events=events,
        links=links,
        kind=kind,
        status=status or Status(StatusCode.OK),
        start_time=start,
        end_time=end,
        instrumentation_scope=InstrumentationScope("moxtrace", "0.1.0"),
    )


def by_type(events: list[TelemetryLogRequest]) -> dict[str, TelemetryLogRequest]:
    return {e.event_type.value: e for e in events}


def test_llm_span_becomes_start_llm_call_and_end_in_sequence() -> None:
    events = span_to_events(make_span())

    assert [(e.event_type.value, e.sequence_number) for e in events] == [
        ("span_start", 0),
        ("llm_call", 1),
        ("span_end", 2),
    ]
    start, llm, end = events
    assert start.timestamp == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=timezone.utc)
    assert (
        llm.timestamp
        == end.timestamp
        == datetime(2023, 11, 14, 22, 13, 20, 373956, tzinfo=timezone.utc)
    )
    for event in events:
        assert event.trace_id == "0af7651916cd43dd8448eb211c80319c"
        assert event.span_id == "b7ad6b7169203331"
        assert event.parent_span_id == "00f067aa0ba902b7"
        assert event.prompt_id == uuid.UUID(PROMPT_ID)
        assert event.task_id == uuid.UUID(TASK_ID)
        assert event.branch_id == uuid.UUID(BRANCH_ID)
        assert event.commit_id is None
        assert event.user_metadata == {"customer_id": "c1", "tags": ["a", "b"]}
        assert not event.content_stored


def test_span_start_metadata() -> None:
    link = Link(SpanContext(0xABC, 0xDEF, is_remote=True), {"reason": "fan-in"})
    start = by_type(span_to_events(make_span(links=(link,))))["span_start"]
    meta = start.system_metadata

    assert meta["span_name"] == "chat claude-sonnet-4"
    assert meta["span_kind"] == "client"
    assert meta["start_time"] == "2023-11-14T22:13:20.123456Z"
    assert meta["resource"] == {"service.name": "checkout", "deployment.environment": "test"}
    assert meta["service_name"] == "checkout"
    assert meta["scope"] == {"name": "moxtrace", "version": "0.1.0"}
    assert meta["links"] == [
        {
            "trace_id": format(0xABC, "032x"),
            "span_id": format(0xDEF, "016x"),
            "attributes": {"reason": "fan-in"},
        }
    ]
    assert meta["prompt_name"] == "support"
    assert meta["branch_name"] == "main"
    assert meta["session_id"] == SESSION_ID
    attrs = meta["attributes"]
    # Every attribute but metadata and content; lists as JSON lists.
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["tool_call"]
    assert attrs[semconv.MOXN_PROMPT_ID] == PROMPT_ID
    assert not any(key.startswith("moxn.metadata.") for key in attrs)
    assert not semconv.CONTENT_ATTRIBUTES & attrs.keys()
    expected = set(llm_attributes()) - semconv.CONTENT_ATTRIBUTES
    expected -= {k for k in expected if k.startswith("moxn.metadata.")}
    assert set(attrs) == expected


def test_llm_call_metadata_and_content() -> None:
    llm = by_type(span_to_events(make_span()))["llm_call"]

    assert llm.system_metadata == {
        "span_name": "chat claude-sonnet-4",
        "provider": "anthropic",
        "operation": "chat",
        "request_model": "claude-sonnet-4",
        "response_model": "claude-sonnet-4-20250514",
        "response_id": "msg_1",
        "finish_reasons": ["tool_call"],
        "usage": {
            "input_tokens": 120,
            "output_tokens": 14,
            "reasoning_tokens": None,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": None,
        },
        "tool_call_count": 1,
    }
    assert llm.content == {
        "input_messages": INPUT,
        "output_messages": OUTPUT,
        "system_instructions": SYSTEM,
        "tool_definitions": TOOLS,
    }


def test_content_keys_absent_when_not_recorded_and_null_when_none() -> None:
    attrs = llm_attributes()
    del attrs[semconv.GEN_AI_SYSTEM_INSTRUCTIONS], attrs[semconv.GEN_AI_TOOL_DEFINITIONS]
    llm = by_type(span_to_events(make_span(attrs)))["llm_call"]
    assert llm.content == {"input_messages": INPUT, "output_messages": OUTPUT}

    bare = {k: v for k, v in llm_attributes().items() if k not in semconv.CONTENT_ATTRIBUTES}
    assert by_type(span_to_events(make_span(bare)))["llm_call"].content is None


def test_include_content_false_leaves_content_null() -> None:
    events = span_to_events(make_span(), include_content=False)
    assert [e.content for e in events] == [None, None, None]
    assert "gen_ai.input.messages" not in json.dumps([e.model_dump(mode="json") for e in events])


def test_truncated_content_is_kept_as_text() -> None:
    cut = json.dumps(INPUT)[:20]
    attrs = llm_attributes(**{semconv.GEN_AI_INPUT_MESSAGES: cut, semconv.MOXN_TRUNCATED: True})
    llm = by_type(span_to_events(make_span(attrs)))["llm_call"]
    assert llm.content is not None
    assert llm.content["input_messages"] == cut


def test_tool_call_count_from_output_messages_when_not_recorded() -> None:
    attrs = llm_attributes()
    del attrs[semconv.MOXN_LLM_TOOL_CALL_COUNT]
    llm = by_type(span_to_events(make_span(attrs)))["llm_call"]
    assert llm.system_metadata["tool_call_count"] == 1


def test_span_end_metadata() -> None:
    event = Event("cache.miss", {"key": "k1", "sizes": (1, 2)}, timestamp=START_NS + 1000)
    end = by_type(span_to_events(make_span(events=(event,))))["span_end"]
    assert end.system_metadata == {
        "span_name": "chat claude-sonnet-4",
        "end_time": "2023-11-14T22:13:20.373956Z",
        "duration_ms": 250.5,
        "status_code": "OK",
        "status_message": None,
        "events": [
            {
                "name": "cache.miss",
                "timestamp": "2023-11-14T22:13:20.123457Z",
                "attributes": {"key": "k1", "sizes": [1, 2]},
            }
        ],
    }


def test_error_status_gives_span_error_with_exception_event() -> None:
    exc = Event(
        "exception",
        {"exception.type": "ValueError", "exception.message": "boom"},
        timestamp=END_NS,
    )
    events = span_to_events(
        make_span(status=Status(StatusCode.ERROR, "ValueError: boom"), events=(exc,))
    )
    last = events[-1]
    assert last.event_type is TelemetryEventType.SPAN_ERROR
    assert last.sequence_number == 2
    assert last.system_metadata["status_code"] == "ERROR"
    assert last.system_metadata["status_message"] == "ValueError: boom"
    assert last.system_metadata["events"][0]["attributes"]["exception.type"] == "ValueError"


def test_plain_span_has_no_llm_call() -> None:
    attrs = {"http.route": "/orders", semconv.MOXN_PROMPT_ID: PROMPT_ID}
    events = span_to_events(make_span(attrs, parent=None, kind=SpanKind.SERVER))
    assert [e.event_type.value for e in events] == ["span_start", "span_end"]
    assert [e.sequence_number for e in events] == [0, 2]
    assert events[0].parent_span_id is None
    assert events[0].system_metadata["span_kind"] == "server"
    assert events[0].user_metadata == {}
    assert events[1].system_metadata["status_code"] == "OK"


def test_commit_wins_over_branch() -> None:
    attrs = llm_attributes(**{semconv.MOXN_COMMIT_ID: "c0ffee"})
    for event in span_to_events(make_span(attrs)):
        assert event.commit_id == "c0ffee"
        assert event.branch_id is None


def test_identity_that_is_not_a_uuid_is_left_out_but_kept_in_attributes() -> None:
    attrs = llm_attributes(**{semconv.MOXN_PROMPT_ID: "not-a-uuid", semconv.MOXN_TASK_ID: 7})
    start = span_to_events(make_span(attrs))[0]
    assert start.prompt_id is None
    assert start.task_id is None
    assert start.system_metadata["attributes"][semconv.MOXN_PROMPT_ID] == "not-a-uuid"
    assert start.system_metadata["attributes"][semconv.MOXN_TASK_ID] == 7


def test_event_ids_are_deterministic_and_distinct() -> None:
    first = [e.id for e in span_to_events(make_span())]
    prefix = "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-"
    assert first == [uuid.uuid5(EVENT_ID_NAMESPACE, f"{prefix}{seq}") for seq in (0, 1, 2)]
    again = [e.id for e in span_to_events(make_span())]
    other = [e.id for e in span_to_events(make_span(span_id=SPAN_ID + 1))]
    assert first == again
    assert len(set(first) | set(other)) == 6


def test_wire_dicts_are_json_and_validate_to_the_same_events() -> None:
    span = make_span()
    wire = span_to_wire(span)
    events = span_to_events(span)
    assert json.loads(json.dumps(wire)) == wire
    assert [TelemetryLogRequest.model_validate(w) for w in wire] == events


def test_span_without_end_time_uses_its_start() -> None:
    events = span_to_events(make_span(end=None))
    assert events[-1].timestamp == events[0].timestamp
    assert events[-1].system_metadata["duration_ms"] == 0


@pytest.mark.parametrize(
    ("trace_id", "span_id", "start", "end"),
    [
        (0, SPAN_ID, START_NS, END_NS),
        (TRACE_ID, 0, START_NS, END_NS),
        (TRACE_ID, SPAN_ID, None, None),
    ],
)
def test_unusable_span_raises_value_error(
    trace_id: int, span_id: int, start: int | None, end: int | None
) -> None:
    with pytest.raises(ValueError, match="span"):
        span_to_events(make_span(trace_id=trace_id, span_id=span_id, start=start, end=end))


def test_server_rebuilt_span_with_plain_dict_and_list_values() -> None:
    attrs = dict(llm_attributes())
    attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = ["stop"]
    attrs[semconv.MOXN_METADATA_PREFIX + "tags"] = ["x"]
    events = span_to_events(make_span(attrs))
    assert events[1].system_metadata["finish_reasons"] == ["stop"]
    assert events[0].user_metadata["tags"] == ["x"]


# -- spans from a real SDK pipeline, through the moxtrace client -------------------------


def test_client_span_with_llm_event_and_child(
    mx_client: SyncMoxnClient, memory: InMemorySpanExporter, session: PromptSession
) -> None:
    with mx_client.span(session, name="answer", metadata={"customer_id": "c1"}):
        mx_client.log_telemetry_event_from_response(session, ANTHROPIC_RESPONSE, Provider.ANTHROPIC)
        with mx_client.span(session, name="post-process"):
            pass
    spans = finished(memory)
    answer = span_to_events(spans["answer"])
    child = span_to_events(spans["post-process"])

    assert [e.event_type.value for e in answer] == ["span_start", "llm_call", "span_end"]
    assert [e.event_type.value for e in child] == ["span_start", "span_end"]
    assert child[0].parent_span_id == answer[0].span_id
    assert child[0].trace_id == answer[0].trace_id
    assert answer[0].parent_span_id is None

    prompt = session.prompt
    for event in answer:
        assert event.prompt_id == prompt.id
        assert event.task_id == prompt.task_id
        assert event.branch_id == prompt.branch_id
        assert event.user_metadata == {"customer_id": "c1"}
    start, llm, _ = answer
    assert start.system_metadata["session_id"] == str(session.id)
    assert start.system_metadata["prompt_name"] == "support-answer"
    assert start.system_metadata["branch_name"] == "main"
    assert start.system_metadata["scope"]["name"] == "moxtrace"
    assert llm.system_metadata["provider"] == "anthropic"
    assert llm.system_metadata["usage"]["input_tokens"] == 120
    assert llm.system_metadata["usage"]["cache_read_input_tokens"] == 100
    assert llm.system_metadata["tool_call_count"] == 1
    assert llm.system_metadata["finish_reasons"] == ["tool_call"]
    assert llm.content is not None
    assert llm.content["input_messages"] == [
        {"role": "user", "parts": [{"type": "text", "content": "Question: Where is my order?"}]}
    ]
    parts = llm.content["output_messages"][0]["parts"]
    assert parts[0] == {"type": "text", "content": "Your order ships tomorrow."}
    assert parts[1]["name"] == "lookup"
    assert llm.content["system_instructions"] == [
        {"type": "text", "content": "You are a helpful support agent."}
    ]


def test_client_span_error_and_commit_identity(
    mx_client: SyncMoxnClient, memory: InMemorySpanExporter
) -> None:
    session = PromptSession(make_prompt(commit_id="c1a2b3"), {"query": "q"})
    with pytest.raises(RuntimeError), mx_client.span(session, name="failing"):
        raise RuntimeError("kaput")
    events = span_to_events(finished(memory)["failing"])
    assert [e.event_type.value for e in events] == ["span_start", "span_error"]
    assert events[0].commit_id == "c1a2b3"
    assert events[0].branch_id is None
    meta = events[1].system_metadata
    assert meta["status_message"] == "RuntimeError: kaput"
    assert [e["name"] for e in meta["events"]] == ["exception"]
    assert meta["events"][0]["attributes"]["exception.message"] == "kaput"


def test_llm_event_outside_a_span_gets_its_own_client_span(
    mx_client: SyncMoxnClient, memory: InMemorySpanExporter, session: PromptSession
) -> None:
    mx_client.log_telemetry_event_from_response(session, ANTHROPIC_RESPONSE, Provider.ANTHROPIC)
    (span,) = memory.get_finished_spans()
    events = span_to_events(span)
    assert [e.event_type.value for e in events] == ["span_start", "llm_call", "span_end"]
    assert events[0].system_metadata["span_kind"] == "client"
    assert events[1].prompt_id == session.prompt.id
