"""Invocations: each provider's SDK takes them as they are and sends the expected body.

Every invocation here goes through the official SDK's own request method
(``messages.create``, ``chat.completions.create``, ``responses.create``,
``models.generate_content``), which checks the keyword arguments and serialises the
request; the body it would have sent is compared with the expected one.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from moxtrace import PromptSession, Provider
from moxtrace.session import MissingVariableError
from moxtrace.types import (
    CompletionConfig,
    ImageContentFromSource,
    MessageRole,
    PDFContentFromSource,
    ReasoningContent,
    TextContent,
    ToolCall,
    Variable,
)
from tests.unit.session.prompts import (
    ANSWER_SCHEMA,
    LOOKUP_SCHEMA,
    PDF_B64,
    PNG_B64,
    SYSTEM_TEXT,
    USER_TEXT,
    conversation_prompt,
    message,
    prompt,
    support_input,
    tools,
)
from tests.unit.session.sdk import Recorder, anthropic_client, google_client, openai_client

ANTHROPIC_REPLY = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "model-x",
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 1, "output_tokens": 1},
}
CHAT_REPLY = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "model-x",
    "choices": [],
}
RESPONSES_REPLY = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1,
    "model": "model-x",
    "output": [],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
}
GOOGLE_REPLY: dict[str, Any] = {"candidates": []}


def send_anthropic(invocation: dict[str, Any]) -> dict[str, Any]:
    recorder = Recorder(ANTHROPIC_REPLY)
    anthropic_client(recorder).messages.create(**invocation)
    assert recorder.url == "https://api.anthropic.com/v1/messages"
    return recorder.body


def send_chat(invocation: dict[str, Any]) -> dict[str, Any]:
    recorder = Recorder(CHAT_REPLY)
    openai_client(recorder).chat.completions.create(**invocation)
    assert recorder.url == "https://api.openai.com/v1/chat/completions"
    return recorder.body


def send_responses(invocation: dict[str, Any]) -> dict[str, Any]:
    recorder = Recorder(RESPONSES_REPLY)
    openai_client(recorder).responses.create(**invocation)
    assert recorder.url == "https://api.openai.com/v1/responses"
    return recorder.body


def send_google(invocation: dict[str, Any], *, vertexai: bool = False) -> dict[str, Any]:
    recorder = Recorder(GOOGLE_REPLY)
    google_client(recorder, vertexai=vertexai).models.generate_content(**invocation)
    assert recorder.url.endswith(f"models/{invocation['model']}:generateContent")
    return recorder.body


SEND = {
    Provider.ANTHROPIC: send_anthropic,
    Provider.OPENAI_CHAT: send_chat,
    Provider.OPENAI_RESPONSES: send_responses,
    Provider.GOOGLE_GEMINI: send_google,
}


@pytest.fixture
def session() -> PromptSession:
    return PromptSession(conversation_prompt(), support_input())


# -- the whole conversation, per provider ------------------------------------------------
LOOKUP_PLAIN = LOOKUP_SCHEMA  # x-moxn-metadata is not sent
EMPTY_OBJECT = {"type": "object", "properties": {}}
RESULT_TEXT = '{"status":"shipped"}'


def test_anthropic_body(session: PromptSession) -> None:
    assert send_anthropic(session.to_anthropic_invocation()) == {
        "model": "model-x",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": SYSTEM_TEXT}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": USER_TEXT},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
                    },
                    {
                        "type": "document",
                        "source": {
                            "type": "base64",
                            "media_type": "application/pdf",
                            "data": PDF_B64,
                        },
                        "title": "invoice.pdf",
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "thinking",
                        "thinking": "I should look the order up.",
                        "signature": "sig-1",
                    },
                    {"type": "text", "text": "Let me check."},
                    {
                        "type": "tool_use",
                        "id": "call_1",
                        "name": "lookup_order",
                        "input": {"order_id": "A1"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": RESULT_TEXT},
                    {"type": "text", "text": "Thanks. When will it arrive?"},
                ],
            },
        ],
        "tools": [
            {
                "name": "lookup_order",
                "description": "Find an order by id.",
                "input_schema": LOOKUP_PLAIN,
            },
            {"name": "list_orders", "input_schema": EMPTY_OBJECT},
        ],
        "tool_choice": {"type": "auto"},
        "output_config": {"format": {"type": "json_schema", "schema": ANSWER_SCHEMA}},
    }


def test_openai_chat_body(session: PromptSession) -> None:
    assert send_chat(session.to_openai_chat_invocation()) == {
        "model": "model-x",
        "max_completion_tokens": 1024,
        "temperature": 0.2,
        "messages": [
            {"role": "system", "content": SYSTEM_TEXT},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": USER_TEXT},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
                    {
                        "type": "file",
                        "file": {
                            "file_data": f"data:application/pdf;base64,{PDF_B64}",
                            "filename": "invoice.pdf",
                        },
                    },
                ],
            },
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup_order", "arguments": '{"order_id":"A1"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": RESULT_TEXT},
            {"role": "user", "content": "Thanks. When will it arrive?"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "lookup_order",
                    "description": "Find an order by id.",
                    "parameters": LOOKUP_PLAIN,
                },
            },
            {"type": "function", "function": {"name": "list_orders", "parameters": EMPTY_OBJECT}},
        ],
        "tool_choice": "auto",
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "Support_Answer",
                "description": "The answer to the customer.",
                "schema": ANSWER_SCHEMA,
                "strict": True,
            },
        },
    }


def test_openai_responses_body(session: PromptSession) -> None:
    assert send_responses(session.to_openai_responses_invocation()) == {
        "model": "model-x",
        "instructions": SYSTEM_TEXT,
        "max_output_tokens": 1024,
        "temperature": 0.2,
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": USER_TEXT},
                    {
                        "type": "input_image",
                        "image_url": f"data:image/png;base64,{PNG_B64}",
                        "detail": "auto",
                    },
                    {
                        "type": "input_file",
                        "file_data": f"data:application/pdf;base64,{PDF_B64}",
                        "filename": "invoice.pdf",
                    },
                ],
            },
            {"role": "assistant", "content": "Let me check."},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "lookup_order",
                "arguments": '{"order_id":"A1"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": RESULT_TEXT},
            {
                "role": "user",
                "content": [{"type": "input_text", "text": "Thanks. When will it arrive?"}],
            },
        ],
        "tools": [
            {
                "type": "function",
                "name": "lookup_order",
                "description": "Find an order by id.",
                "parameters": LOOKUP_PLAIN,
                "strict": False,
            },
            {
                "type": "function",
                "name": "list_orders",
                "parameters": EMPTY_OBJECT,
                "strict": False,
            },
        ],
        "tool_choice": "auto",
        "text": {
            "format": {
                "type": "json_schema",
                "name": "Support_Answer",
                "description": "The answer to the customer.",
                "schema": ANSWER_SCHEMA,
                "strict": True,
            }
        },
    }


def test_google_body(session: PromptSession) -> None:
    # The SDK sends bytes as URL-safe base64.
    pdf = base64.urlsafe_b64encode(base64.b64decode(PDF_B64)).decode()
    body = send_google(session.to_google_invocation())
    assert body == {
        "systemInstruction": {"parts": [{"text": SYSTEM_TEXT}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": USER_TEXT},
                    {"inlineData": {"mime_type": "image/png", "data": PNG_B64}},
                    {"inlineData": {"mime_type": "application/pdf", "data": pdf}},
                ],
            },
            {
                "role": "model",
                "parts": [
                    {"text": "I should look the order up.", "thought": True},
                    {"text": "Let me check."},
                    {
                        "functionCall": {
                            "id": "call_1",
                            "name": "lookup_order",
                            "args": {"order_id": "A1"},
                        }
                    },
                ],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "id": "call_1",
                            "name": "lookup_order",
                            "response": {"status": "shipped"},
                        }
                    },
                    {"text": "Thanks. When will it arrive?"},
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "lookup_order",
                        "description": "Find an order by id.",
                        "parameters_json_schema": LOOKUP_PLAIN,
                    },
                    {"name": "list_orders", "parameters_json_schema": EMPTY_OBJECT},
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {
            "temperature": 0.2,
            "maxOutputTokens": 1024,
            "responseMimeType": "application/json",
            "responseJsonSchema": ANSWER_SCHEMA,
        },
    }


def test_vertex_clients_take_the_same_invocation(session: PromptSession) -> None:
    gemini = send_google(session.to_google_invocation())
    vertex = send_google(session.to_invocation(Provider.GOOGLE_VERTEX), vertexai=True)
    assert vertex["contents"] == gemini["contents"]
    assert vertex["generationConfig"] == gemini["generationConfig"]


# -- settings ---------------------------------------------------------------------------
TOOL_CHOICES: list[tuple[str, Provider, Any]] = [
    ("auto", Provider.ANTHROPIC, {"type": "auto"}),
    ("required", Provider.ANTHROPIC, {"type": "any"}),
    ("none", Provider.ANTHROPIC, {"type": "none"}),
    ("lookup_order", Provider.ANTHROPIC, {"type": "tool", "name": "lookup_order"}),
    ("auto", Provider.OPENAI_CHAT, "auto"),
    ("any", Provider.OPENAI_CHAT, "required"),
    ("none", Provider.OPENAI_CHAT, "none"),
    (
        "lookup_order",
        Provider.OPENAI_CHAT,
        {"type": "function", "function": {"name": "lookup_order"}},
    ),
    ("auto", Provider.OPENAI_RESPONSES, "auto"),
    ("required", Provider.OPENAI_RESPONSES, "required"),
    ("none", Provider.OPENAI_RESPONSES, "none"),
    ("lookup_order", Provider.OPENAI_RESPONSES, {"type": "function", "name": "lookup_order"}),
    ("auto", Provider.GOOGLE_GEMINI, {"functionCallingConfig": {"mode": "AUTO"}}),
    ("required", Provider.GOOGLE_GEMINI, {"functionCallingConfig": {"mode": "ANY"}}),
    ("none", Provider.GOOGLE_GEMINI, {"functionCallingConfig": {"mode": "NONE"}}),
    (
        "lookup_order",
        Provider.GOOGLE_GEMINI,
        {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup_order"]}},
    ),
]


@pytest.mark.parametrize(("choice", "provider", "expected"), TOOL_CHOICES)
def test_tool_choice_in_each_providers_shape(
    choice: str, provider: Provider, expected: Any
) -> None:
    session = PromptSession(conversation_prompt(provider, tool_choice=choice), support_input())
    body = SEND[provider](session.to_invocation())
    key = "toolConfig" if provider is Provider.GOOGLE_GEMINI else "tool_choice"
    assert body[key] == expected


def test_tool_choice_override_and_unknown_tool_names(session: PromptSession) -> None:
    assert session.to_anthropic_invocation(tool_choice="required")["tool_choice"] == {"type": "any"}
    with pytest.raises(ValueError, match="'lookup' of prompt 'support-answer' is neither"):
        session.to_openai_chat_invocation(tool_choice="lookup")


def test_no_tools_means_no_tool_choice() -> None:
    p = prompt(
        message(MessageRole.USER, [TextContent(text="hi")]),
        config=CompletionConfig(model="m", tool_choice="required"),
    )
    for provider, send in SEND.items():
        body = send(PromptSession(p).to_invocation(provider))
        assert not {"tools", "tool_choice", "toolConfig"} & set(body), provider


@pytest.mark.parametrize("provider", list(SEND))
def test_keyword_arguments_override_the_prompts_settings(provider: Provider) -> None:
    session = PromptSession(conversation_prompt(provider), support_input())
    body = SEND[provider](
        session.to_invocation(model="other-model", max_tokens=64, temperature=0.7, top_p=0.9)
    )
    if provider is Provider.GOOGLE_GEMINI:
        config = body["generationConfig"]
        assert (config["maxOutputTokens"], config["temperature"], config["topP"]) == (64, 0.7, 0.9)
        return
    assert body["model"] == "other-model"
    assert (body["temperature"], body["top_p"]) == (0.7, 0.9)
    limit = {
        Provider.ANTHROPIC: "max_tokens",
        Provider.OPENAI_CHAT: "max_completion_tokens",
        Provider.OPENAI_RESPONSES: "max_output_tokens",
    }[provider]
    assert body[limit] == 64


def test_google_model_override_is_in_the_url(session: PromptSession) -> None:
    recorder = Recorder(GOOGLE_REPLY)
    google_client(recorder).models.generate_content(
        **session.to_google_invocation(model="gemini-z")
    )
    assert recorder.url.endswith("models/gemini-z:generateContent")


def test_anthropic_sends_sampling_parameters_only_when_asked(session: PromptSession) -> None:
    # The prompt says temperature 0.2: current Anthropic API versions reject it.
    default = session.to_anthropic_invocation()
    assert "temperature" not in default and "extra_body" not in default
    explicit = session.to_anthropic_invocation(temperature=0.5, extra_body={"top_k": 5})
    assert explicit["extra_body"] == {"temperature": 0.5, "top_k": 5}
    body = send_anthropic(explicit)
    assert (body["temperature"], body["top_k"]) == (0.5, 5)


def test_extra_keywords_are_passed_through(session: PromptSession) -> None:
    body = send_anthropic(
        session.to_anthropic_invocation(
            thinking={"type": "enabled", "budget_tokens": 2048}, metadata={"user_id": "u1"}
        )
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["metadata"] == {"user_id": "u1"}
    chat = send_chat(session.to_openai_chat_invocation(reasoning_effort="low", seed=7))
    assert (chat["reasoning_effort"], chat["seed"]) == ("low", 7)
    responses = send_responses(
        session.to_openai_responses_invocation(
            reasoning={"effort": "low", "summary": "auto"}, text={"verbosity": "low"}
        )
    )
    assert responses["reasoning"] == {"effort": "low", "summary": "auto"}
    assert responses["text"]["verbosity"] == "low" and "format" in responses["text"]
    google = send_google(
        session.to_google_invocation(
            thinking_config={"thinking_budget": 128}, config={"seed": 3}, top_p=0.5
        )
    )
    assert google["generationConfig"]["thinkingConfig"] == {"thinking_budget": 128}
    assert (google["generationConfig"]["seed"], google["generationConfig"]["topP"]) == (3, 0.5)


def test_stop_sequences(session: PromptSession) -> None:
    stops = ["END"]
    assert (
        send_anthropic(session.to_anthropic_invocation(stop_sequences=stops))["stop_sequences"]
        == stops
    )
    assert send_chat(session.to_openai_chat_invocation(stop_sequences=stops))["stop"] == stops
    google = send_google(session.to_google_invocation(stop_sequences=stops))
    assert google["generationConfig"]["stopSequences"] == stops


def test_developer_role_for_openai_system_messages(session: PromptSession) -> None:
    body = send_chat(session.to_openai_chat_invocation(system_role="developer"))
    assert body["messages"][0] == {"role": "developer", "content": SYSTEM_TEXT}


def test_anthropic_structured_output_as_a_forced_tool(session: PromptSession) -> None:
    body = send_anthropic(session.to_anthropic_invocation(structured_output="tool"))
    assert "output_config" not in body
    assert body["tools"][-1] == {
        "name": "Support Answer",
        "description": "The answer to the customer.",
        "input_schema": ANSWER_SCHEMA,
        "strict": True,
    }
    assert body["tool_choice"] == {"type": "tool", "name": "Support Answer"}


def test_streaming_invocations() -> None:
    session = PromptSession(conversation_prompt(), support_input())
    chat = session.to_openai_chat_invocation(stream=True)
    assert chat["stream"] is True
    assert chat["stream_options"] == {"include_usage": True}
    assert session.to_anthropic_invocation(stream=True)["stream"] is True


# -- media by URL, per provider -----------------------------------------------------------
def url_media_session() -> PromptSession:
    return PromptSession(
        prompt(
            message(
                MessageRole.USER,
                [TextContent(text="Read this")],
                [ImageContentFromSource(url="https://x.test/cat.png")],
                [PDFContentFromSource(url="https://x.test/doc.pdf", name="doc.pdf")],
            ),
            config=CompletionConfig(model="model-x"),
        )
    )


def test_media_by_url_in_each_providers_shape() -> None:
    session = url_media_session()
    assert send_anthropic(session.to_anthropic_invocation())["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "url", "url": "https://x.test/cat.png"}},
        {
            "type": "document",
            "source": {"type": "url", "url": "https://x.test/doc.pdf"},
            "title": "doc.pdf",
        },
    ]
    assert send_responses(session.to_openai_responses_invocation())["input"][0]["content"][1:] == [
        {"type": "input_image", "image_url": "https://x.test/cat.png", "detail": "auto"},
        {"type": "input_file", "file_url": "https://x.test/doc.pdf"},
    ]
    assert send_google(session.to_google_invocation())["contents"][0]["parts"][1:] == [
        {"fileData": {"file_uri": "https://x.test/cat.png", "mime_type": "image/png"}},
        {"fileData": {"file_uri": "https://x.test/doc.pdf", "mime_type": "application/pdf"}},
    ]


def test_openai_chat_refuses_a_pdf_by_url() -> None:
    with pytest.raises(ValueError, match="takes PDFs only as data"):
        url_media_session().to_openai_chat_invocation()


# -- conversation history ---------------------------------------------------------------
def test_a_tool_loop_through_append_response_and_append_tool_result() -> None:
    session = PromptSession(
        prompt(
            message(MessageRole.USER, [TextContent(text="Where is A1?")]),
            tools=tools(structured=False),
            config=CompletionConfig(model="model-x"),
        )
    )
    session.append_response(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "model-x",
            "content": [
                {"type": "thinking", "thinking": "look it up", "signature": "s"},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup_order", "input": {}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 5, "output_tokens": 5},
        },
        Provider.ANTHROPIC,
    )
    session.append_tool_result("toolu_1", "shipped")
    session.append_message("user", "And when does it arrive?")
    body = send_anthropic(session.to_anthropic_invocation())
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "look it up", "signature": "s"},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup_order", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "shipped"}],
        },
        {"role": "user", "content": [{"type": "text", "text": "And when does it arrive?"}]},
    ]
    google = send_google(session.to_google_invocation())
    assert google["contents"][2]["parts"] == [
        {
            "functionResponse": {
                "id": "toolu_1",
                "name": "lookup_order",
                "response": {"output": "shipped"},
            }
        }
    ]
    assert len(session.messages) == 4 and len(session.prompt.messages) == 1


def test_reasoning_items_go_back_to_the_responses_api_with_their_id() -> None:
    session = PromptSession(
        prompt(
            message(MessageRole.USER, [TextContent(text="q")]),
            message(
                MessageRole.ASSISTANT,
                [
                    ReasoningContent(text="thought", id="rs_1"),
                    ReasoningContent(text="no id: not sent"),
                    ToolCall(tool_name="lookup_order", tool_call_id="fc_1", input={}),
                ],
            ),
            config=CompletionConfig(model="model-x"),
        )
    )
    body = send_responses(session.to_openai_responses_invocation())
    assert body["input"][1:] == [
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "thought"}],
        },
        {"type": "function_call", "call_id": "fc_1", "name": "lookup_order", "arguments": "{}"},
    ]


def test_a_failed_tool_is_an_error_result() -> None:
    session = PromptSession(
        prompt(
            message(MessageRole.USER, [TextContent(text="q")]), config=CompletionConfig(model="m")
        )
    )
    session.append_response(
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"functionCall": {"name": "f", "args": {}}}],
                    }
                }
            ]
        },
        Provider.GOOGLE_GEMINI,
    )
    session.append_tool_result("call_0", "boom", is_error=True)
    anthropic_body = send_anthropic(session.to_anthropic_invocation())
    assert anthropic_body["messages"][2]["content"][0]["is_error"] is True
    google = send_google(session.to_google_invocation())
    assert google["contents"][2]["parts"][0]["functionResponse"]["response"] == {"error": "boom"}


# -- errors -----------------------------------------------------------------------------
def test_an_invocation_without_a_model_says_what_to_pass() -> None:
    session = PromptSession(prompt(message(MessageRole.USER, [TextContent(text="hi")])))
    with pytest.raises(ValueError, match="has no completion_config: pass model="):
        session.to_anthropic_invocation()
    with pytest.raises(ValueError, match="pass provider="):
        session.to_invocation()
    body = send_anthropic(session.to_anthropic_invocation(model="claude-x"))
    assert body["max_tokens"] == 4096


def test_every_invocation_reports_a_missing_variable() -> None:
    session = PromptSession(
        prompt(message(MessageRole.USER, [Variable(name="query")]), config=CompletionConfig()), {}
    )
    for provider in SEND:
        with pytest.raises(MissingVariableError, match="'query'"):
            session.to_invocation(provider)
