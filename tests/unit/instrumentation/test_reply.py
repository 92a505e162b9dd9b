"""read_reply: an SDK response read off its fields gives the span the attributes the parser's
ParsedResponse gives it, and leaves to the parser what it does not read."""

from __future__ import annotations

from typing import Any

import anthropic.types as at
import pytest
from google.genai import types as gt
from openai.types import completion_usage
from openai.types import responses as rt
from openai.types.chat import ChatCompletion, ChatCompletionMessage, chat_completion
from openai.types.chat import chat_completion_message_custom_tool_call as custom_call
from openai.types.chat.chat_completion_message import FunctionCall

from moxtrace.instrumentation._reply import Reply, read_reply
from moxtrace.session.providers import parse_response
from moxtrace.tracing.content import ContentCapture
from moxtrace.tracing.events import llm_call_attributes
from moxtrace.types.content import Provider
from tests.unit.session import goldens


def attributes(response: Any, provider: Provider, reply: Reply | None) -> dict[str, Any]:
    if reply is None:
        parsed: Any = parse_response(response, provider, raw=False)
        output = None
    else:
        parsed, output = reply, reply.output
    attrs, _ = llm_call_attributes(provider, parsed, ContentCapture.ALL, 100_000, output=output)
    return attrs


def same_as_parser(response: Any, provider: Provider) -> Reply:
    reply = read_reply(response, provider)
    assert reply is not None, "read off the SDK object, not left to the parser"
    assert attributes(response, provider, reply) == attributes(response, provider, None)
    return reply


def chat(message: ChatCompletionMessage, finish: Any = "stop", **fields: Any) -> ChatCompletion:
    choice = chat_completion.Choice(index=0, finish_reason=finish, message=message)
    return ChatCompletion(
        id="c1",
        object="chat.completion",
        created=0,
        model="gpt",
        choices=[choice],
        **fields,
    )


def test_goldens_of_every_provider() -> None:
    same_as_parser(goldens.anthropic_message(), Provider.ANTHROPIC)
    same_as_parser(goldens.chat_completion_object(), Provider.OPENAI_CHAT)
    same_as_parser(goldens.responses_object(), Provider.OPENAI_RESPONSES)
    same_as_parser(goldens.google_response(), Provider.GOOGLE_GEMINI)
    reply = same_as_parser(goldens.google_response(), Provider.GOOGLE_VERTEX)
    assert reply.output[1] == 2  # two tool calls
    assert [part["type"] for part in reply.output[0]] == [
        "reasoning",
        "text",
        "tool_call",
        "tool_call",
    ]


@pytest.mark.parametrize(
    "message",
    [
        ChatCompletionMessage(role="assistant", content=None, refusal="I can't help with that."),
        ChatCompletionMessage(
            role="assistant",
            content="Answer.",
            reasoning_content="Thinking it over.",  # type: ignore[call-arg]  # vLLM, DeepSeek
        ),
        ChatCompletionMessage(
            role="assistant",
            content=None,
            function_call=FunctionCall(name="lookup", arguments='{"id": 1}'),
        ),
        ChatCompletionMessage(
            role="assistant",
            content="",
            tool_calls=[
                custom_call.ChatCompletionMessageCustomToolCall(
                    id="call_c",
                    type="custom",
                    custom=custom_call.Custom(name="grep", input="order A1"),
                )
            ],
        ),
    ],
    ids=["refusal", "reasoning_content", "legacy_function_call", "custom_tool"],
)
def test_openai_chat_messages(message: ChatCompletionMessage) -> None:
    same_as_parser(chat(message, finish="length"), Provider.OPENAI_CHAT)


def test_openai_chat_without_choices_or_usage() -> None:
    completion = ChatCompletion(id="c1", object="chat.completion", created=0, model="m", choices=[])
    reply = same_as_parser(completion, Provider.OPENAI_CHAT)
    assert reply.output == ([], 0)
    assert reply.stop_reason is None


def test_openai_chat_usage_details() -> None:
    usage = completion_usage.CompletionUsage(
        prompt_tokens=10,
        completion_tokens=5,
        total_tokens=15,
        prompt_tokens_details=completion_usage.PromptTokensDetails(cached_tokens=4),
    )
    reply = same_as_parser(
        chat(ChatCompletionMessage(role="assistant", content="Hi"), usage=usage),
        Provider.OPENAI_CHAT,
    )
    assert (reply.usage.input_tokens, reply.usage.cache_read_input_tokens) == (10, 4)


def test_openai_usage_counts_that_are_not_plain_ints() -> None:
    # Counts the usage model does not hold as ints (missing, an extra field, a float) are
    # read as the parser reads them, not off the model's fields.
    for usage in (
        completion_usage.CompletionUsage.model_construct(completion_tokens=5),
        completion_usage.CompletionUsage.model_construct(
            prompt_tokens=10, completion_tokens=5.0, total_tokens=15
        ),
        completion_usage.CompletionUsage.model_validate(
            {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "extra_tokens": 1}
        ),
        completion_usage.CompletionUsage(
            prompt_tokens=10,
            completion_tokens=5,
            total_tokens=15,
            prompt_tokens_details=completion_usage.PromptTokensDetails.model_validate(
                {"cached_tokens": None, "cache_write_tokens": 3, "spare": 1}
            ),
            completion_tokens_details=completion_usage.CompletionTokensDetails.model_construct(
                reasoning_tokens=True
            ),
        ),
    ):
        same_as_parser(
            chat(ChatCompletionMessage(role="assistant", content="Hi"), usage=usage),
            Provider.OPENAI_CHAT,
        )
    response = goldens.responses_object()
    response.usage = rt.ResponseUsage.model_construct(input_tokens=7)
    same_as_parser(response, Provider.OPENAI_RESPONSES)


def test_openai_responses_shapes() -> None:
    refusal = rt.ResponseOutputMessage(
        id="msg_2",
        type="message",
        role="assistant",
        status="completed",
        content=[rt.ResponseOutputRefusal(type="refusal", refusal="No.")],
    )
    same_as_parser(goldens.responses_object(output=[refusal]), Provider.OPENAI_RESPONSES)
    incomplete = goldens.responses_object(
        status="incomplete", incomplete_details={"reason": "max_output_tokens"}
    )
    reply = same_as_parser(incomplete, Provider.OPENAI_RESPONSES)
    assert reply.raw_stop_reason == "max_output_tokens"
    same_as_parser(goldens.responses_object(status="failed"), Provider.OPENAI_RESPONSES)
    same_as_parser(goldens.responses_object(output=[]), Provider.OPENAI_RESPONSES)


def test_anthropic_shapes() -> None:
    message = at.Message(
        id="msg_2",
        type="message",
        role="assistant",
        model="claude",
        content=[
            at.ServerToolUseBlock(
                type="server_tool_use",
                id="srv_1",
                name="web_search",
                input={"query": "orders"},
                caller={"type": "direct"},
            ),
            at.TextBlock(type="text", text="Found it."),
        ],
        stop_reason="max_tokens",
        stop_sequence=None,
        usage=at.Usage(input_tokens=7, output_tokens=3),
    )
    reply = same_as_parser(message, Provider.ANTHROPIC)
    assert reply.usage.input_tokens == 7
    # Counts the usage does not hold as ints (an extra, a float) read as the parser reads them.
    for usage in (
        at.Usage.model_validate({"input_tokens": 7, "output_tokens": 3, "spare": 1}),
        at.Usage.model_construct(input_tokens=7, output_tokens=3.0),
    ):
        same_as_parser(message.model_copy(update={"usage": usage}), Provider.ANTHROPIC)


def test_google_shapes() -> None:
    response = gt.GenerateContentResponse(
        candidates=[
            gt.Candidate(
                finish_reason=gt.FinishReason.SAFETY,
                content=gt.Content(
                    role="model",
                    parts=[
                        gt.Part(text="Hmm ", thought=True),
                        gt.Part(text="then.", thought=True),
                        gt.Part(text="One "),
                        gt.Part(text="two."),
                        gt.Part(function_call=gt.FunctionCall(id="fc_9", name="f", args={})),
                        gt.Part(text="After."),
                    ],
                ),
            )
        ],
    )
    reply = same_as_parser(response, Provider.GOOGLE_GEMINI)
    assert [part.get("content") for part in reply.output[0]] == [
        "Hmm then.",
        "One two.",
        None,
        "After.",
    ]
    same_as_parser(gt.GenerateContentResponse(candidates=[]), Provider.GOOGLE_GEMINI)


def test_what_it_does_not_read_goes_to_the_parser() -> None:
    assert read_reply(goldens.chat_completion_object().model_dump(), Provider.OPENAI_CHAT) is None
    listed = ChatCompletionMessage.model_construct(
        role="assistant", content=[{"type": "text", "text": "Hi"}]
    )
    assert read_reply(chat(listed), Provider.OPENAI_CHAT) is None
    odd_model = ChatCompletion.model_construct(
        id="c1", object="chat.completion", created=0, model=42, choices=[]
    )
    assert read_reply(odd_model, Provider.OPENAI_CHAT) is None
