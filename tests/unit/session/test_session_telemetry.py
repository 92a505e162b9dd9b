"""Telemetry: a provider response logged inside ``client.span(session)`` becomes GenAI span
attributes, for every provider, streamed or not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moxtrace import PromptSession, Provider, SyncMoxnClient
from moxtrace.session import stream_accumulator
from moxtrace.session.genai import BLOB_CONTENT_LIMIT
from moxtrace.tracing import semconv
from tests.unit.session.goldens import GOLDENS, LOOKUP_ARGS, TEXT
from tests.unit.session.prompts import (
    LOOKUP_SCHEMA,
    PDF_B64,
    PNG,
    PNG_B64,
    SYSTEM_TEXT,
    USER_TEXT,
    conversation_prompt,
    support_input,
)

PROVIDER_NAME = {
    Provider.ANTHROPIC: "anthropic",
    Provider.OPENAI_CHAT: "openai",
    Provider.OPENAI_RESPONSES: "openai",
    Provider.GOOGLE_GEMINI: "gcp.gemini",
    Provider.GOOGLE_VERTEX: "gcp.vertex_ai",
}
RESPONSE_MODEL = {
    Provider.ANTHROPIC: "claude-sonnet-4-5-20250929",
    Provider.OPENAI_CHAT: "gpt-5-2025-08-07",
    Provider.OPENAI_RESPONSES: "gpt-5-2025-08-07",
    Provider.GOOGLE_GEMINI: "gemini-2.5-pro",
    Provider.GOOGLE_VERTEX: "gemini-2.5-pro",
}
INPUT_MESSAGES = [
    {
        "role": "user",
        "parts": [
            {"type": "text", "content": USER_TEXT},
            {"type": "blob", "modality": "image", "mime_type": "image/png", "content": PNG_B64},
            {
                "type": "blob",
                "modality": "document",
                "mime_type": "application/pdf",
                "content": PDF_B64,
            },
        ],
    },
    {
        "role": "assistant",
        "parts": [
            {"type": "reasoning", "content": "I should look the order up."},
            {"type": "text", "content": "Let me check."},
            {
                "type": "tool_call",
                "id": "call_1",
                "name": "lookup_order",
                "arguments": {"order_id": "A1"},
            },
        ],
    },
    {
        "role": "tool",
        "parts": [
            {"type": "tool_call_response", "id": "call_1", "response": {"status": "shipped"}}
        ],
    },
    {"role": "user", "parts": [{"type": "text", "content": "Thanks. When will it arrive?"}]},
]


def attributes_of(exporter: InMemorySpanExporter) -> dict[str, Any]:
    (span,) = exporter.get_finished_spans()
    return dict(span.attributes or {})


@pytest.mark.parametrize("provider", list(GOLDENS))
def test_a_logged_response_gives_genai_span_attributes(
    provider: Provider, client: SyncMoxnClient, exporter: InMemorySpanExporter
) -> None:
    make_response, _, expected = GOLDENS[provider]
    session = PromptSession(conversation_prompt(provider), support_input())
    with client.span(session):
        client.log_telemetry_event_from_response(session, make_response(), provider)
    attrs = attributes_of(exporter)

    assert attrs[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[semconv.GEN_AI_PROVIDER_NAME] == PROVIDER_NAME[provider]
    assert attrs[semconv.GEN_AI_REQUEST_MODEL] == "model-x"
    assert attrs[semconv.GEN_AI_RESPONSE_MODEL] == RESPONSE_MODEL[provider]
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == expected.response_id
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_call",)
    assert attrs[semconv.MOXN_LLM_STOP_REASON] == expected.raw_stop_reason
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == expected.usage.input_tokens
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 80
    assert attrs[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 30
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 100
    assert attrs[semconv.MOXN_LLM_TOOL_CALL_COUNT] == 2
    assert attrs[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 1024
    if provider is Provider.ANTHROPIC:
        # Not sent to Anthropic (see to_anthropic_invocation), so not recorded.
        assert semconv.GEN_AI_REQUEST_TEMPERATURE not in attrs
    else:
        assert attrs[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert attrs[semconv.MOXN_PROMPT_NAME] == "support-answer"
    assert attrs[semconv.MOXN_SESSION_ID] == str(session.id)
    assert attrs[semconv.MOXN_COMMIT_ID] == "c0ffee"

    assert json.loads(attrs[semconv.GEN_AI_SYSTEM_INSTRUCTIONS]) == [
        {"type": "text", "content": SYSTEM_TEXT}
    ]
    assert json.loads(attrs[semconv.GEN_AI_INPUT_MESSAGES]) == INPUT_MESSAGES
    assert json.loads(attrs[semconv.GEN_AI_TOOL_DEFINITIONS]) == [
        {
            "type": "function",
            "name": "lookup_order",
            "description": "Find an order by id.",
            "parameters": LOOKUP_SCHEMA,  # as sent: without x-moxn-metadata
        },
        {
            "type": "function",
            "name": "list_orders",
            "parameters": {"type": "object", "properties": {}},
        },
    ]
    (output,) = json.loads(attrs[semconv.GEN_AI_OUTPUT_MESSAGES])
    assert output["role"] == "assistant" and output["finish_reason"] == "tool_call"
    assert {"type": "text", "content": TEXT} in output["parts"]
    assert (output["parts"][0]["type"] == "reasoning") == bool(expected.thinking)
    calls = [p for p in output["parts"] if p["type"] == "tool_call"]
    assert [(c["name"], c["arguments"]) for c in calls] == [
        ("list_orders", {}),
        ("lookup_order", LOOKUP_ARGS),
    ]


@pytest.mark.parametrize("provider", list(GOLDENS))
def test_a_logged_stream_records_time_to_first_chunk(
    provider: Provider, client: SyncMoxnClient, exporter: InMemorySpanExporter
) -> None:
    _, make_events, expected = GOLDENS[provider]
    ticks = iter([10.0, 10.5])
    acc = stream_accumulator(provider, clock=lambda: next(ticks))
    for event in make_events():
        acc.add(event)
    session = PromptSession(conversation_prompt(provider), support_input())
    with client.span(session):
        client.log_telemetry_event_from_response(session, acc, provider)
    attrs = attributes_of(exporter)
    assert attrs[semconv.MOXN_LLM_TIME_TO_FIRST_CHUNK_MS] == pytest.approx(500.0)
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == expected.response_id
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 80


def test_the_event_carries_the_request_as_sent() -> None:
    session = PromptSession(conversation_prompt(Provider.ANTHROPIC), support_input())
    make_response = GOLDENS[Provider.ANTHROPIC][0]
    event = session.create_llm_event_from_response(
        make_response(), request_parameters={"temperature": 0.5}, attributes={"team": "support"}
    )
    assert event.request_parameters == {"max_tokens": 1024, "temperature": 0.5}
    assert event.attributes == {"team": "support"}
    assert event.request_model == "model-x"
    assert (event.commit_id, event.branch_id) == ("c0ffee", None)
    chat = session.create_llm_event_from_response(
        GOLDENS[Provider.OPENAI_CHAT][0](), Provider.OPENAI_CHAT
    )
    assert chat.request_parameters == {"max_tokens": 1024, "temperature": 0.2}


def test_large_inline_media_is_recorded_without_its_content() -> None:
    big = PNG + b"\x00" * BLOB_CONTENT_LIMIT
    session = PromptSession(conversation_prompt(), support_input(photo=big, invoice=None))
    _, messages = session.genai_messages()
    image = messages[0]["parts"][1]
    assert image == {
        "type": "blob",
        "modality": "image",
        "mime_type": "image/png",
        "size": len(big),
    }
    assert len(messages[0]["parts"]) == 2  # the optional invoice was left out


def test_genai_messages_are_computed_once_and_follow_appended_messages() -> None:
    session = PromptSession(conversation_prompt(), support_input())
    first = session.genai_messages()
    assert session.genai_messages() is first
    session.append_message("user", "One more thing.")
    _, messages = session.genai_messages()
    assert messages[-1] == {
        "role": "user",
        "parts": [{"type": "text", "content": "One more thing."}],
    }
