"""Reading what an SDK call asked for: each provider's request shapes to the GenAI shapes."""

from __future__ import annotations

from typing import Any

from google.genai import types as genai_types

from moxtrace.instrumentation import _anthropic, _google, _openai
from moxtrace.instrumentation._request import Content

NOT_GIVEN = object()  # what an SDK's "omit" sentinel looks like to moxtrace


def test_anthropic_request_with_tools_tool_results_images_and_thinking() -> None:
    kwargs: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 512,
        "temperature": NOT_GIVEN,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "aGk="},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Look it up.", "signature": "s"},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "y"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "a png"}],
                    }
                ],
            },
        ],
        "tools": [
            {"name": "lookup", "description": "Search", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search"},
        ],
    }
    request = _anthropic.read_request(kwargs)
    assert request.model == "claude-sonnet-4-6"
    assert request.parameters == {"max_tokens": 512}
    assert request.stream is False
    assert _anthropic.read_content(kwargs) == Content(
        system=[{"type": "text", "content": "Be brief."}],
        messages=[
            {
                "role": "user",
                "parts": [
                    {"type": "text", "content": "What is this?"},
                    {
                        "type": "blob",
                        "modality": "image",
                        "mime_type": "image/png",
                        "content": "aGk=",
                    },
                    {"type": "uri", "modality": "image", "uri": "https://x/y.png"},
                ],
            },
            {
                "role": "assistant",
                "parts": [
                    {"type": "reasoning", "content": "Look it up."},
                    {
                        "type": "tool_call",
                        "id": "toolu_1",
                        "name": "lookup",
                        "arguments": {"q": "y"},
                    },
                ],
            },
            {
                "role": "tool",
                "parts": [{"type": "tool_call_response", "id": "toolu_1", "response": "a png"}],
            },
        ],
        tools=[
            {
                "type": "function",
                "name": "lookup",
                "description": "Search",
                "parameters": {"type": "object"},
            },
            {"type": "web_search_20250305", "name": "web_search"},
        ],
    )


def test_openai_chat_request_with_developer_message_tool_calls_and_parts() -> None:
    kwargs: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "max_completion_tokens": 100,
        "temperature": 0.2,
        "stream": True,
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,aGk="}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": "y"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "found"},
        ],
    }
    request = _openai.read_chat_request(kwargs)
    assert request == ("gpt-4o-mini", {"max_tokens": 100, "temperature": 0.2}, True)
    content = _openai.read_chat_content(kwargs)
    assert content.system == [{"type": "text", "content": "Be brief."}]
    assert content.messages == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "Look"},
                {"type": "blob", "modality": "image", "mime_type": "image/jpeg", "content": "aGk="},
            ],
        },
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": {"q": "y"}}
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": "found"}],
        },
    ]
    assert content.tools == []


def test_openai_responses_request_with_items() -> None:
    kwargs: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "max_output_tokens": 64,
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Where?"}]},
            {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "Paris"},
        ],
        "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
    }
    assert _openai.read_responses_request(kwargs).parameters == {"max_tokens": 64}
    assert _openai.read_responses_content(kwargs) == Content(
        system=[{"type": "text", "content": "Be brief."}],
        messages=[
            {"role": "user", "parts": [{"type": "text", "content": "Where?"}]},
            {
                "role": "assistant",
                "parts": [{"type": "tool_call", "id": "c1", "name": "lookup", "arguments": {}}],
            },
            {
                "role": "tool",
                "parts": [{"type": "tool_call_response", "id": "c1", "response": "Paris"}],
            },
        ],
        tools=[{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
    )
    assert _openai.read_responses_content({"input": "Hi"}).messages == [
        {"role": "user", "parts": [{"type": "text", "content": "Hi"}]}
    ]


def test_google_request_from_sdk_objects_and_dicts() -> None:
    config = genai_types.GenerateContentConfig(
        system_instruction="Be brief.",
        max_output_tokens=128,
        temperature=0.5,
        tools=[
            genai_types.Tool(
                function_declarations=[
                    genai_types.FunctionDeclaration(
                        name="lookup",
                        description="Search",
                        parameters_json_schema={"type": "object"},
                    )
                ]
            )
        ],
    )
    kwargs: dict[str, Any] = {
        "model": "gemini-2.5-flash",
        "config": config,
        "contents": [
            genai_types.Content(role="user", parts=[genai_types.Part(text="Where?")]),
            {"role": "model", "parts": [{"function_call": {"name": "lookup", "args": {"q": "y"}}}]},
            {
                "role": "user",
                "parts": [{"function_response": {"name": "lookup", "response": {"r": "Paris"}}}],
            },
        ],
    }
    request = _google.read_request(kwargs)
    assert request == ("gemini-2.5-flash", {"max_tokens": 128, "temperature": 0.5}, False)
    assert _google.read_content(kwargs) == Content(
        system=[{"type": "text", "content": "Be brief."}],
        messages=[
            {"role": "user", "parts": [{"type": "text", "content": "Where?"}]},
            {
                "role": "assistant",
                "parts": [
                    {"type": "tool_call", "id": "lookup", "name": "lookup", "arguments": {"q": "y"}}
                ],
            },
            {
                "role": "tool",
                "parts": [
                    {"type": "tool_call_response", "id": "lookup", "response": {"r": "Paris"}}
                ],
            },
        ],
        tools=[
            {
                "type": "function",
                "name": "lookup",
                "description": "Search",
                "parameters": {"type": "object"},
            }
        ],
    )
    # A bare string, and loose parts: one user message.
    assert _google.read_content({"contents": "Hi"}).messages == [
        {"role": "user", "parts": [{"type": "text", "content": "Hi"}]}
    ]
    assert _google.read_content({"contents": ["Hi", {"text": "there"}]}).messages == [
        {
            "role": "user",
            "parts": [{"type": "text", "content": "Hi"}, {"type": "text", "content": "there"}],
        }
    ]
    assert _google.read_request({"config": {"max_output_tokens": 9}}).parameters == {
        "max_tokens": 9
    }


def test_large_inline_media_is_recorded_by_size() -> None:
    data = "A" * 40_000
    content = _anthropic.read_content(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": data},
                        }
                    ],
                }
            ]
        }
    )
    (part,) = content.messages[0]["parts"]
    assert part == {"type": "blob", "modality": "image", "mime_type": "image/png", "size": 30_000}
