"""Parsing: each provider's response (SDK object or dict) into the expected ``ParsedResponse``."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.responses import response as response_module

from moxtrace import PromptSession, Provider
from moxtrace.session import parse_response
from moxtrace.types import StopReason, TextContent, ToolCall
from tests.unit.payloads import ANTHROPIC_RESPONSE
from tests.unit.session.goldens import (
    GOLDENS,
    anthropic_message,
    chat_completion_object,
    comparable,
    google_response,
    responses_object,
)
from tests.unit.session.prompts import conversation_prompt, support_input


@pytest.mark.parametrize("provider", list(GOLDENS))
def test_sdk_objects_parse_into_the_golden(provider: Provider) -> None:
    make_response, _, expected = GOLDENS[provider]
    response = make_response()
    parsed = parse_response(response, provider)
    assert comparable(parsed) == comparable(expected)
    assert parsed.raw_response == response.model_dump(mode="json")


@pytest.mark.parametrize("provider", list(GOLDENS))
def test_sdk_objects_read_without_a_dump_parse_the_same(provider: Provider) -> None:
    # raw=False (the SDK instrumentation) reads the SDK object's fields instead of dumping it.
    make_response, _, expected = GOLDENS[provider]
    response = make_response()
    parsed = parse_response(response, provider, raw=False)
    assert parsed.raw_response is None
    assert comparable(parsed) == comparable(expected)
    assert parsed == parse_response(response, provider).model_copy(update={"raw_response": None})


@pytest.mark.parametrize("provider", list(GOLDENS))
def test_dicts_parse_like_sdk_objects(provider: Provider) -> None:
    make_response, _, expected = GOLDENS[provider]
    data = make_response().model_dump(mode="json")
    assert comparable(parse_response(data, provider)) == comparable(expected)


def test_a_parsed_response_passes_through() -> None:
    parsed = parse_response(ANTHROPIC_RESPONSE, Provider.ANTHROPIC)
    assert parse_response(parsed, Provider.ANTHROPIC) is parsed


def test_the_session_parses_with_the_prompts_provider() -> None:
    session = PromptSession(conversation_prompt(Provider.OPENAI_CHAT), support_input())
    assert session.parse_response(chat_completion_object()).provider is Provider.OPENAI_CHAT
    assert session.parse_response(anthropic_message(), Provider.ANTHROPIC).response_id == "msg_01"


def test_views_of_the_content() -> None:
    parsed = parse_response(anthropic_message(), Provider.ANTHROPIC)
    assert parsed.text == "Let me look that up."
    assert [c.input for c in parsed.tool_calls] == [{}, {"order_id": "A1"}]
    assert [t.redacted for t in parsed.thinking] == [False, True]  # type: ignore[union-attr]


def test_something_that_is_no_response_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="cannot read a object"):
        parse_response(object(), Provider.ANTHROPIC)


# -- stop reasons -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("end_turn", StopReason.STOP),
        ("stop_sequence", StopReason.STOP),
        ("max_tokens", StopReason.LENGTH),
        ("model_context_window_exceeded", StopReason.LENGTH),
        ("refusal", StopReason.CONTENT_FILTER),
        ("tool_use", StopReason.TOOL_CALL),
    ],
)
def test_anthropic_stop_reasons(raw: str, expected: StopReason) -> None:
    parsed = parse_response(
        anthropic_message().model_copy(update={"stop_reason": raw}), Provider.ANTHROPIC
    )
    assert (parsed.stop_reason, parsed.raw_stop_reason) == (expected, raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("stop", StopReason.STOP),
        ("length", StopReason.LENGTH),
        ("content_filter", StopReason.CONTENT_FILTER),
        ("tool_calls", StopReason.TOOL_CALL),
    ],
)
def test_openai_chat_stop_reasons(raw: str, expected: StopReason) -> None:
    data = chat_completion_object().model_dump(mode="json")
    data["choices"][0]["finish_reason"] = raw
    assert parse_response(data, Provider.OPENAI_CHAT).stop_reason is expected


def test_openai_chat_refusal_is_text() -> None:
    data = chat_completion_object().model_dump(mode="json")
    data["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "refusal": "I can't help.",
    }
    data["choices"][0]["finish_reason"] = "stop"
    parsed = parse_response(data, Provider.OPENAI_CHAT)
    assert parsed.content_blocks == [TextContent(text="I can't help.")]


@pytest.mark.parametrize(
    ("status", "reason", "expected", "raw"),
    [
        ("incomplete", "max_output_tokens", StopReason.LENGTH, "max_output_tokens"),
        ("incomplete", "content_filter", StopReason.CONTENT_FILTER, "content_filter"),
        ("failed", None, StopReason.ERROR, "failed"),
    ],
)
def test_openai_responses_statuses(
    status: str, reason: str | None, expected: StopReason, raw: str
) -> None:
    details = response_module.IncompleteDetails(reason=reason) if reason else None
    response = responses_object(status=status, incomplete_details=details)
    parsed = parse_response(response, Provider.OPENAI_RESPONSES)
    assert (parsed.stop_reason, parsed.raw_stop_reason) == (expected, raw)


def test_openai_responses_without_tool_calls_stop() -> None:
    response = responses_object(output=[responses_object().output[1]])
    assert parse_response(response, Provider.OPENAI_RESPONSES).stop_reason is StopReason.STOP


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("MAX_TOKENS", StopReason.LENGTH),
        ("SAFETY", StopReason.CONTENT_FILTER),
        ("RECITATION", StopReason.CONTENT_FILTER),
        ("MALFORMED_FUNCTION_CALL", StopReason.ERROR),
    ],
)
def test_google_finish_reasons(raw: str, expected: StopReason) -> None:
    data = google_response().model_dump(mode="json")
    data["candidates"][0]["finish_reason"] = raw
    assert parse_response(data, Provider.GOOGLE_GEMINI).stop_reason is expected


def test_google_rest_json_in_camel_case() -> None:
    rest: dict[str, Any] = {
        "responseId": "r1",
        "modelVersion": "gemini-2.5-flash",
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "Hmm", "thought": True},
                        {"functionCall": {"name": "list_orders"}},
                    ],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 9,
            "candidatesTokenCount": 4,
            "cachedContentTokenCount": 2,
        },
    }
    parsed = parse_response(rest, Provider.GOOGLE_VERTEX)
    assert parsed.provider is Provider.GOOGLE_VERTEX
    assert (parsed.model, parsed.response_id) == ("gemini-2.5-flash", "r1")
    assert parsed.tool_calls == [ToolCall(tool_name="list_orders", tool_call_id="call_0", input={})]
    assert (
        parsed.usage.input_tokens,
        parsed.usage.output_tokens,
        parsed.usage.cache_read_input_tokens,
    ) == (9, 4, 2)
    assert parsed.stop_reason is StopReason.TOOL_CALL


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", {}),
        ("  ", {}),
        (None, {}),
        ("{}", {}),
        ('{"a": 1}', {"a": 1}),
        ("[1, 2]", {"_value": [1, 2]}),
        ("not json", {"_raw": "not json"}),
    ],
)
def test_tool_call_arguments(raw: str | None, expected: dict[str, Any]) -> None:
    data = chat_completion_object().model_dump(mode="json")
    data["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = raw
    parsed = parse_response(data, Provider.OPENAI_CHAT)
    assert parsed.tool_calls[0].input == expected


def test_fields_an_sdk_object_keeps_as_extras_are_read_without_a_dump() -> None:
    # OpenAI-compatible servers (vLLM, DeepSeek) add reasoning_content to the message: the
    # openai SDK keeps it as a pydantic extra, which the dump and the field reader both see.
    from openai.types.chat import ChatCompletion

    completion = ChatCompletion.model_validate(
        {
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": "deepseek-r1",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {
                        "role": "assistant",
                        "content": "42",
                        "reasoning_content": "six times seven",
                    },
                }
            ],
        }
    )
    read = parse_response(completion, Provider.OPENAI_CHAT, raw=False)
    dumped = parse_response(completion, Provider.OPENAI_CHAT)
    assert [type(b).__name__ for b in read.content_blocks] == ["ReasoningContent", "TextContent"]
    assert read == dumped.model_copy(update={"raw_response": None})
