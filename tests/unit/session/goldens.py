"""Golden responses, built from the provider SDKs' own types, and what they parse into.

For each provider: the response object ``messages.create`` / ``chat.completions.create``
/ ``responses.create`` / ``models.generate_content`` returns, the stream events the same
call with ``stream=True`` yields, and the expected ``ParsedResponse``. Every golden has
reasoning, text, a tool call with empty input and one with arguments, and usage with
reasoning and cache tokens.
"""

from __future__ import annotations

from typing import Any

import anthropic.types as at
from anthropic.types import raw_message_delta_event
from google.genai import types as gt
from openai.types import completion_usage
from openai.types import responses as rt
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    chat_completion,
    chat_completion_chunk,
)
from openai.types.chat import chat_completion_message_function_tool_call as chat_call
from openai.types.responses import response_reasoning_item, response_usage

from moxtrace.types import (
    ParsedResponse,
    Provider,
    ReasoningContent,
    StopReason,
    TextContent,
    ThinkingContent,
    TokenUsage,
    ToolCall,
)

LOOKUP_ARGS = {"order_id": "A1"}
TEXT = "Let me look that up."


def expected(
    provider: Provider, blocks: list[Any], usage: TokenUsage, raw_stop: str, **kw: Any
) -> ParsedResponse:
    return ParsedResponse(
        provider=provider,
        content_blocks=blocks,
        usage=usage,
        stop_reason=kw.pop("stop", StopReason.TOOL_CALL),
        raw_stop_reason=raw_stop,
        **kw,
    )


def comparable(parsed: ParsedResponse) -> dict[str, Any]:
    """A parsed response without the raw response and the stream timing."""
    return parsed.model_dump(exclude={"raw_response", "time_to_first_chunk_ms"})


# -- Anthropic ------------------------------------------------------------------------
ANTHROPIC_MODEL = "claude-sonnet-4-5-20250929"


def anthropic_message() -> at.Message:
    return at.Message(
        id="msg_01",
        type="message",
        role="assistant",
        model=ANTHROPIC_MODEL,
        content=[
            at.ThinkingBlock(
                type="thinking", thinking="The user wants tracking.", signature="sig-a"
            ),
            at.RedactedThinkingBlock(type="redacted_thinking", data="opaque"),
            at.TextBlock(type="text", text=TEXT),
            at.ToolUseBlock(type="tool_use", id="toolu_1", name="list_orders", input={}),
            at.ToolUseBlock(type="tool_use", id="toolu_2", name="lookup_order", input=LOOKUP_ARGS),
        ],
        stop_reason="tool_use",
        stop_sequence=None,
        usage=at.Usage(
            input_tokens=120,
            output_tokens=80,
            cache_read_input_tokens=100,
            cache_creation_input_tokens=20,
            output_tokens_details=at.OutputTokensDetails(thinking_tokens=30),
        ),
    )


def anthropic_events() -> list[Any]:
    def delta(index: int, d: Any) -> at.RawContentBlockDeltaEvent:
        return at.RawContentBlockDeltaEvent(type="content_block_delta", index=index, delta=d)

    def start(index: int, block: Any) -> at.RawContentBlockStartEvent:
        return at.RawContentBlockStartEvent(
            type="content_block_start", index=index, content_block=block
        )

    def stop(index: int) -> at.RawContentBlockStopEvent:
        return at.RawContentBlockStopEvent(type="content_block_stop", index=index)

    opening = anthropic_message().model_copy(
        update={
            "content": [],
            "stop_reason": None,
            "usage": at.Usage(
                input_tokens=120,
                output_tokens=1,
                cache_read_input_tokens=100,
                cache_creation_input_tokens=20,
            ),
        }
    )
    return [
        at.RawMessageStartEvent(type="message_start", message=opening),
        start(0, at.ThinkingBlock(type="thinking", thinking="", signature="")),
        delta(0, at.ThinkingDelta(type="thinking_delta", thinking="The user ")),
        delta(0, at.ThinkingDelta(type="thinking_delta", thinking="wants tracking.")),
        delta(0, at.SignatureDelta(type="signature_delta", signature="sig-a")),
        stop(0),
        start(1, at.RedactedThinkingBlock(type="redacted_thinking", data="opaque")),
        stop(1),
        start(2, at.TextBlock(type="text", text="")),
        delta(2, at.TextDelta(type="text_delta", text="Let me ")),
        delta(2, at.TextDelta(type="text_delta", text="look that up.")),
        stop(2),
        start(3, at.ToolUseBlock(type="tool_use", id="toolu_1", name="list_orders", input={})),
        delta(3, at.InputJSONDelta(type="input_json_delta", partial_json="")),
        stop(3),
        start(4, at.ToolUseBlock(type="tool_use", id="toolu_2", name="lookup_order", input={})),
        delta(4, at.InputJSONDelta(type="input_json_delta", partial_json='{"order_id": ')),
        delta(4, at.InputJSONDelta(type="input_json_delta", partial_json='"A1"}')),
        stop(4),
        at.RawMessageDeltaEvent(
            type="message_delta",
            delta=raw_message_delta_event.Delta(stop_reason="tool_use", stop_sequence=None),
            usage=at.MessageDeltaUsage(
                output_tokens=80, output_tokens_details=at.OutputTokensDetails(thinking_tokens=30)
            ),
        ),
        at.RawMessageStopEvent(type="message_stop"),
    ]


ANTHROPIC_EXPECTED = expected(
    Provider.ANTHROPIC,
    [
        ThinkingContent(text="The user wants tracking.", signature="sig-a"),
        ThinkingContent(text="", signature="opaque", redacted=True),
        TextContent(text=TEXT),
        ToolCall(tool_name="list_orders", tool_call_id="toolu_1", input={}),
        ToolCall(tool_name="lookup_order", tool_call_id="toolu_2", input=LOOKUP_ARGS),
    ],
    TokenUsage(
        input_tokens=240,  # Anthropic's 120 uncached + 100 read from + 20 written to cache
        output_tokens=80,
        reasoning_tokens=30,
        cache_read_input_tokens=100,
        cache_creation_input_tokens=20,
    ),
    "tool_use",
    model=ANTHROPIC_MODEL,
    response_id="msg_01",
)


# -- OpenAI Chat Completions -------------------------------------------------------------
OPENAI_MODEL = "gpt-5-2025-08-07"


def chat_completion_object() -> ChatCompletion:
    def call(
        call_id: str, name: str, arguments: str
    ) -> chat_call.ChatCompletionMessageFunctionToolCall:
        return chat_call.ChatCompletionMessageFunctionToolCall(
            id=call_id, type="function", function=chat_call.Function(name=name, arguments=arguments)
        )

    return ChatCompletion(
        id="chatcmpl-1",
        object="chat.completion",
        created=1_700_000_000,
        model=OPENAI_MODEL,
        choices=[
            chat_completion.Choice(
                index=0,
                finish_reason="tool_calls",
                message=ChatCompletionMessage(
                    role="assistant",
                    content=TEXT,
                    tool_calls=[
                        call("call_1", "list_orders", ""),
                        call("call_2", "lookup_order", '{"order_id":"A1"}'),
                    ],
                ),
            )
        ],
        usage=completion_usage.CompletionUsage(
            prompt_tokens=120,
            completion_tokens=80,
            total_tokens=200,
            prompt_tokens_details=completion_usage.PromptTokensDetails(cached_tokens=100),
            completion_tokens_details=completion_usage.CompletionTokensDetails(reasoning_tokens=30),
        ),
    )


def chat_chunks() -> list[ChatCompletionChunk]:
    def chunk(
        delta: chat_completion_chunk.ChoiceDelta | None = None,
        finish: Any = None,
        usage: completion_usage.CompletionUsage | None = None,
    ) -> ChatCompletionChunk:
        choices = (
            []
            if delta is None
            else [chat_completion_chunk.Choice(index=0, delta=delta, finish_reason=finish)]
        )
        return ChatCompletionChunk(
            id="chatcmpl-1",
            object="chat.completion.chunk",
            created=1_700_000_000,
            model=OPENAI_MODEL,
            choices=choices,
            usage=usage,
        )

    def tool(
        index: int, arguments: str, call_id: str | None = None, name: str | None = None
    ) -> Any:
        return chat_completion_chunk.ChoiceDelta(
            tool_calls=[
                chat_completion_chunk.ChoiceDeltaToolCall(
                    index=index,
                    id=call_id,
                    type="function" if call_id else None,
                    function=chat_completion_chunk.ChoiceDeltaToolCallFunction(
                        name=name, arguments=arguments
                    ),
                )
            ]
        )

    return [
        chunk(chat_completion_chunk.ChoiceDelta(role="assistant", content="Let me ")),
        chunk(chat_completion_chunk.ChoiceDelta(content="look that up.")),
        chunk(tool(0, "", "call_1", "list_orders")),
        chunk(tool(1, "", "call_2", "lookup_order")),
        chunk(tool(1, '{"order_id":')),
        chunk(tool(1, '"A1"}')),
        chunk(chat_completion_chunk.ChoiceDelta(), finish="tool_calls"),
        chunk(usage=chat_completion_object().usage),
    ]


CHAT_EXPECTED = expected(
    Provider.OPENAI_CHAT,
    [
        TextContent(text=TEXT),
        ToolCall(tool_name="list_orders", tool_call_id="call_1", input={}),
        ToolCall(tool_name="lookup_order", tool_call_id="call_2", input=LOOKUP_ARGS),
    ],
    TokenUsage(
        input_tokens=120, output_tokens=80, reasoning_tokens=30, cache_read_input_tokens=100
    ),
    "tool_calls",
    model=OPENAI_MODEL,
    response_id="chatcmpl-1",
)


# -- OpenAI Responses ---------------------------------------------------------------------
def _reasoning(summary: str) -> rt.ResponseReasoningItem:
    parts = [response_reasoning_item.Summary(type="summary_text", text=summary)] if summary else []
    return rt.ResponseReasoningItem(id="rs_1", type="reasoning", summary=parts)


def _message(text: str) -> rt.ResponseOutputMessage:
    content = [rt.ResponseOutputText(type="output_text", text=text, annotations=[])] if text else []
    return rt.ResponseOutputMessage(
        id="msg_1", type="message", role="assistant", status="completed", content=content
    )


def _call(item_id: str, call_id: str, name: str, arguments: str) -> rt.ResponseFunctionToolCall:
    return rt.ResponseFunctionToolCall(
        id=item_id,
        type="function_call",
        call_id=call_id,
        name=name,
        arguments=arguments,
        status="completed",
    )


def responses_object(
    *, output: list[Any] | None = None, status: str = "completed", **extra: Any
) -> rt.Response:
    return rt.Response(
        id="resp_1",
        object="response",
        created_at=1_700_000_000,
        model=OPENAI_MODEL,
        status=status,
        parallel_tool_calls=True,
        tool_choice="auto",
        tools=[],
        output=[
            _reasoning("Need the order."),
            _message(TEXT),
            _call("fc_1", "call_1", "list_orders", ""),
            _call("fc_2", "call_2", "lookup_order", '{"order_id":"A1"}'),
        ]
        if output is None
        else output,
        usage=response_usage.ResponseUsage(
            input_tokens=120,
            output_tokens=80,
            total_tokens=200,
            input_tokens_details=response_usage.InputTokensDetails(
                cached_tokens=100, cache_write_tokens=0
            ),
            output_tokens_details=response_usage.OutputTokensDetails(reasoning_tokens=30),
        ),
        **extra,
    )


def responses_events(*, complete: bool = True) -> list[Any]:
    n = iter(range(1000))
    opening = responses_object(output=[], status="in_progress")
    events: list[Any] = [
        rt.ResponseCreatedEvent(type="response.created", sequence_number=next(n), response=opening),
        rt.ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            sequence_number=next(n),
            output_index=0,
            item=_reasoning(""),
        ),
    ]
    for piece in ("Need ", "the order."):
        events.append(
            rt.ResponseReasoningSummaryTextDeltaEvent(
                type="response.reasoning_summary_text.delta",
                sequence_number=next(n),
                item_id="rs_1",
                output_index=0,
                summary_index=0,
                delta=piece,
            )
        )
    events += [
        rt.ResponseOutputItemDoneEvent(
            type="response.output_item.done",
            sequence_number=next(n),
            output_index=0,
            item=_reasoning("Need the order."),
        ),
        rt.ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            sequence_number=next(n),
            output_index=1,
            item=_message(""),
        ),
    ]
    for piece in ("Let me ", "look that up."):
        events.append(
            rt.ResponseTextDeltaEvent(
                type="response.output_text.delta",
                sequence_number=next(n),
                item_id="msg_1",
                output_index=1,
                content_index=0,
                delta=piece,
                logprobs=[],
            )
        )
    events += [
        rt.ResponseOutputItemDoneEvent(
            type="response.output_item.done",
            sequence_number=next(n),
            output_index=1,
            item=_message(TEXT),
        ),
        rt.ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            sequence_number=next(n),
            output_index=2,
            item=_call("fc_1", "call_1", "list_orders", ""),
        ),
        rt.ResponseOutputItemDoneEvent(
            type="response.output_item.done",
            sequence_number=next(n),
            output_index=2,
            item=_call("fc_1", "call_1", "list_orders", ""),
        ),
        rt.ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            sequence_number=next(n),
            output_index=3,
            item=_call("fc_2", "call_2", "lookup_order", ""),
        ),
    ]
    for piece in ('{"order_id":', '"A1"}'):
        events.append(
            rt.ResponseFunctionCallArgumentsDeltaEvent(
                type="response.function_call_arguments.delta",
                sequence_number=next(n),
                item_id="fc_2",
                output_index=3,
                delta=piece,
            )
        )
    if complete:
        events += [
            rt.ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                sequence_number=next(n),
                output_index=3,
                item=_call("fc_2", "call_2", "lookup_order", '{"order_id":"A1"}'),
            ),
            rt.ResponseCompletedEvent(
                type="response.completed", sequence_number=next(n), response=responses_object()
            ),
        ]
    return events


RESPONSES_EXPECTED = expected(
    Provider.OPENAI_RESPONSES,
    [
        ReasoningContent(text="Need the order.", id="rs_1"),
        TextContent(text=TEXT),
        ToolCall(tool_name="list_orders", tool_call_id="call_1", input={}),
        ToolCall(tool_name="lookup_order", tool_call_id="call_2", input=LOOKUP_ARGS),
    ],
    TokenUsage(
        input_tokens=120,
        output_tokens=80,
        reasoning_tokens=30,
        cache_read_input_tokens=100,
        cache_creation_input_tokens=0,
    ),
    "completed",
    model=OPENAI_MODEL,
    response_id="resp_1",
)


# -- Google -----------------------------------------------------------------------------
GOOGLE_MODEL = "gemini-2.5-pro"


def _google_chunk(
    parts: list[gt.Part], *, finish: gt.FinishReason | None = None, usage: bool = False
) -> gt.GenerateContentResponse:
    return gt.GenerateContentResponse(
        response_id="resp-g",
        model_version=GOOGLE_MODEL,
        candidates=[
            gt.Candidate(
                index=0, finish_reason=finish, content=gt.Content(role="model", parts=parts)
            )
        ],
        usage_metadata=gt.GenerateContentResponseUsageMetadata(
            prompt_token_count=120,
            candidates_token_count=50,
            thoughts_token_count=30,
            cached_content_token_count=100,
            total_token_count=200,
        )
        if usage
        else None,
    )


def google_response() -> gt.GenerateContentResponse:
    return _google_chunk(
        [
            gt.Part(text="Need the order.", thought=True),
            gt.Part(text=TEXT),
            gt.Part(function_call=gt.FunctionCall(name="list_orders", args={})),
            gt.Part(function_call=gt.FunctionCall(name="lookup_order", args=LOOKUP_ARGS)),
        ],
        finish=gt.FinishReason.STOP,
        usage=True,
    )


def google_chunks() -> list[gt.GenerateContentResponse]:
    return [
        _google_chunk([gt.Part(text="Need ", thought=True)]),
        _google_chunk([gt.Part(text="the order.", thought=True)]),
        _google_chunk([gt.Part(text="Let me ")]),
        _google_chunk(
            [
                gt.Part(text="look that up."),
                gt.Part(function_call=gt.FunctionCall(name="list_orders", args={})),
            ]
        ),
        _google_chunk(
            [gt.Part(function_call=gt.FunctionCall(name="lookup_order", args=LOOKUP_ARGS))],
            finish=gt.FinishReason.STOP,
            usage=True,
        ),
    ]


def google_expected(provider: Provider = Provider.GOOGLE_GEMINI) -> ParsedResponse:
    return expected(
        provider,
        [
            ReasoningContent(text="Need the order."),
            TextContent(text=TEXT),
            ToolCall(tool_name="list_orders", tool_call_id="call_0", input={}),
            ToolCall(tool_name="lookup_order", tool_call_id="call_1", input=LOOKUP_ARGS),
        ],
        TokenUsage(
            input_tokens=120, output_tokens=80, reasoning_tokens=30, cache_read_input_tokens=100
        ),
        "STOP",
        model=GOOGLE_MODEL,
        response_id="resp-g",
    )


GOLDENS: dict[Provider, tuple[Any, Any, ParsedResponse]] = {}
"""Filled below: provider -> (response factory, events factory, expected)."""

GOLDENS[Provider.ANTHROPIC] = (anthropic_message, anthropic_events, ANTHROPIC_EXPECTED)
GOLDENS[Provider.OPENAI_CHAT] = (chat_completion_object, chat_chunks, CHAT_EXPECTED)
GOLDENS[Provider.OPENAI_RESPONSES] = (responses_object, responses_events, RESPONSES_EXPECTED)
GOLDENS[Provider.GOOGLE_GEMINI] = (google_response, google_chunks, google_expected())
GOLDENS[Provider.GOOGLE_VERTEX] = (
    google_response,
    google_chunks,
    google_expected(Provider.GOOGLE_VERTEX),
)
