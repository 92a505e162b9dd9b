"""OpenAI Chat Completions: response parsing."""

from __future__ import annotations

from typing import Any

from moxtrace.session.providers._common import as_dict, as_int, parse_arguments, pick
from moxtrace.types.blocks import ContentBlock, ReasoningContent, TextContent, ToolCall
from moxtrace.types.content import Provider
from moxtrace.types.telemetry import ParsedResponse, StopReason, TokenUsage

__all__ = ["parse_response"]

STOP_REASONS = {
    "stop": StopReason.STOP,
    "length": StopReason.LENGTH,
    "tool_calls": StopReason.TOOL_CALL,
    "function_call": StopReason.TOOL_CALL,
    "content_filter": StopReason.CONTENT_FILTER,
}


def parse_response(response: Any) -> ParsedResponse:
    """A ``ChatCompletion`` (SDK object or dict) as a ``ParsedResponse`` (first choice)."""
    data = as_dict(response)
    choices = data.get("choices") or []
    choice = choices[0] if choices else {}
    message = choice.get("message") or {}
    blocks: list[ContentBlock] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        blocks.append(ReasoningContent(text=reasoning))
    content = message.get("content")
    if isinstance(content, str) and content:
        blocks.append(TextContent(text=content))
    elif isinstance(content, list):
        blocks.extend(
            TextContent(text=part.get("text") or "")
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "output_text")
        )
    if message.get("refusal"):
        blocks.append(TextContent(text=message["refusal"]))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        blocks.append(
            ToolCall(
                tool_name=function.get("name") or "",
                tool_call_id=call.get("id") or "",
                input=parse_arguments(function.get("arguments")),
            )
        )
    usage = data.get("usage") or {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    raw_stop = choice.get("finish_reason")
    return ParsedResponse(
        provider=Provider.OPENAI_CHAT,
        model=data.get("model"),
        response_id=data.get("id"),
        content_blocks=blocks,
        usage=TokenUsage(
            input_tokens=as_int(pick(usage, "prompt_tokens")),
            output_tokens=as_int(pick(usage, "completion_tokens")),
            reasoning_tokens=as_int(pick(completion_details, "reasoning_tokens")),
            cache_read_input_tokens=as_int(pick(prompt_details, "cached_tokens")),
        ),
        stop_reason=STOP_REASONS.get(raw_stop) if raw_stop else None,
        raw_stop_reason=raw_stop,
        raw_response=data,
    )
