"""LLM events: GenAI attributes on the right span, and the content policy."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from moxtrace import MoxnClient, PromptSession, Provider, SyncMoxnClient
from moxtrace.session.providers import parse_response
from moxtrace.tracing import semconv
from moxtrace.tracing.content import ContentCapture, resolve_content_capture
from moxtrace.tracing.events import fit_json
from tests.unit.payloads import ANTHROPIC_RESPONSE

SessionFactory = Callable[..., PromptSession]


def test_first_event_goes_on_the_span_with_genai_attributes(
    client: SyncMoxnClient, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    session = make_session()
    with client.span(session):
        client.log_telemetry_event_from_response(session, ANTHROPIC_RESPONSE, Provider.ANTHROPIC)
    (span,) = exporter.get_finished_spans()
    attrs = span.attributes or {}
    assert attrs[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[semconv.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert attrs[semconv.GEN_AI_REQUEST_MODEL] == "claude-sonnet-4"
    assert attrs[semconv.GEN_AI_RESPONSE_MODEL] == "claude-sonnet-4-20250514"
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "msg_01"
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_call",)
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 120
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 40
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 100
    assert attrs[semconv.MOXN_LLM_TOOL_CALL_COUNT] == 1
    assert attrs[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 4096
    assert json.loads(str(attrs[semconv.GEN_AI_SYSTEM_INSTRUCTIONS])) == [
        {"type": "text", "content": "You are a support agent."}
    ]
    assert json.loads(str(attrs[semconv.GEN_AI_INPUT_MESSAGES])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Question: Where is my order?"}]}
    ]
    assert json.loads(str(attrs[semconv.GEN_AI_OUTPUT_MESSAGES])) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "The user wants tracking."},
                {"type": "text", "content": "Let me look that up."},
                {"type": "tool_call", "id": "toolu_1", "name": "lookup_order", "arguments": {}},
            ],
            "finish_reason": "tool_call",
        }
    ]


def test_second_event_gets_a_child_span_instead_of_overwriting(
    client: SyncMoxnClient, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    session = make_session()
    parsed = parse_response(ANTHROPIC_RESPONSE, Provider.ANTHROPIC)
    second = parsed.model_copy(update={"response_id": "msg_02"})
    with client.span(session, name="turn") as turn:
        client.log_telemetry_event(session.create_llm_event_from_parsed_response(parsed))
        client.log_telemetry_event(session.create_llm_event_from_parsed_response(second))
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert (spans["turn"].attributes or {})[semconv.GEN_AI_RESPONSE_ID] == "msg_01"
    child = spans["chat claude-sonnet-4"]
    assert child.kind is SpanKind.CLIENT
    assert child.parent is not None
    assert child.parent.span_id == turn.get_span_context().span_id
    child_attrs = child.attributes or {}
    assert child_attrs[semconv.GEN_AI_RESPONSE_ID] == "msg_02"
    assert child_attrs[semconv.MOXN_PROMPT_ID] == str(session.prompt.id)


async def test_event_without_a_span_opens_its_own(
    aclient: MoxnClient, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    session = make_session()
    await aclient.log_telemetry_event_from_response(session, ANTHROPIC_RESPONSE, Provider.ANTHROPIC)
    (span,) = exporter.get_finished_spans()
    assert span.name == "chat claude-sonnet-4"
    assert span.parent is None
    assert (span.attributes or {})[semconv.MOXN_SESSION_ID] == str(session.id)


def test_error_event_marks_its_own_span(
    client: SyncMoxnClient, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    session = make_session()
    parsed = parse_response(ANTHROPIC_RESPONSE, Provider.ANTHROPIC)
    client.log_telemetry_event(
        session.create_llm_event_from_parsed_response(parsed, error="overloaded_error")
    )
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})[semconv.ERROR_TYPE] == "overloaded_error"


def test_bad_response_is_a_clear_error(
    client: SyncMoxnClient, make_session: SessionFactory
) -> None:
    with pytest.raises(TypeError, match="could not read the anthropic response"):
        client.log_telemetry_event_from_response(make_session(), object(), Provider.ANTHROPIC)


@pytest.mark.parametrize(
    ("env", "option", "expected"),
    [
        ({}, None, ContentCapture.MOXN),
        (
            {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"},
            None,
            ContentCapture.NONE,
        ),
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}, None, ContentCapture.ALL),
        (
            {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "NO_CONTENT"},
            None,
            ContentCapture.NONE,
        ),
        (
            {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY"},
            None,
            ContentCapture.ALL,
        ),
        (
            {
                "MOXN_CONTENT_CAPTURE": "none",
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
            },
            None,
            ContentCapture.NONE,
        ),
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"}, True, ContentCapture.ALL),
        ({}, "none", ContentCapture.NONE),
    ],
)
def test_content_policy_resolution(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    option: bool | str | None,
    expected: ContentCapture,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client = SyncMoxnClient(content_capture=option)
    assert client.tracing.content_capture is expected
    client.close()


def test_bad_content_policy_value_is_explained() -> None:
    with pytest.raises(ValueError, match="must be true, false"):
        resolve_content_capture(None, None, "maybe")


def test_no_content_is_recorded_when_the_policy_says_none(
    monkeypatch: pytest.MonkeyPatch, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "false")
    client = SyncMoxnClient(span_processors=[SimpleSpanProcessor(exporter)])
    session = make_session()
    with client.span(session):
        client.log_telemetry_event_from_response(session, ANTHROPIC_RESPONSE, Provider.ANTHROPIC)
    attrs = exporter.get_finished_spans()[0].attributes or {}
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 120
    assert not semconv.CONTENT_ATTRIBUTES & set(attrs)
    client.close()


def test_oversized_content_is_truncated_and_marked(
    exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    from moxtrace import Settings

    client = SyncMoxnClient(
        settings=Settings(max_attribute_length=200), span_processors=[SimpleSpanProcessor(exporter)]
    )
    session = PromptSession(make_session().prompt, {"query": "q" * 5000})
    with client.span(session):
        client.log_telemetry_event_from_response(session, ANTHROPIC_RESPONSE, Provider.ANTHROPIC)
    attrs = exporter.get_finished_spans()[0].attributes or {}
    text = str(attrs[semconv.GEN_AI_INPUT_MESSAGES])
    assert len(text) <= 200
    messages = json.loads(text)  # still valid JSON, in the same shape
    content = messages[0]["parts"][0]["content"]
    assert content.startswith("Question: qqq") and content.endswith("…[truncated]")
    assert attrs[semconv.MOXN_TRUNCATED] is True
    client.close()


json_leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=400)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)


@given(json_values, st.integers(min_value=32, max_value=600))
def test_fit_json_always_gives_valid_json_within_the_limit(value: object, limit: int) -> None:
    text, cut = fit_json(value, limit)
    assert len(text) <= limit
    json.loads(text)
    assert cut == (text != json.dumps(value, separators=(",", ":"), ensure_ascii=False))
