"""Google Gemini / Vertex AI ``generate_content``: response parsing.

Reads both the ``google-genai`` SDK's snake_case dump and the REST API's camelCase JSON.
"""

from __future__ import annotations

from typing import Any

from moxtrace.session.providers._common import (
    as_dict,
    as_int,
    merge_text,
    parse_arguments,
    pick,
)
from moxtrace.types.blocks import ContentBlock, ReasoningContent, TextContent, ToolCall
from moxtrace.types.content import Provider
from moxtrace.types.telemetry import ParsedResponse, StopReason, TokenUsage

__all__ = ["parse_response"]

STOP_REASONS = {
    "STOP": StopReason.STOP,
    "MAX_TOKENS": StopReason.LENGTH,
    "SAFETY": StopReason.CONTENT_FILTER,
    "RECITATION": StopReason.CONTENT_FILTER,
    "BLOCKLIST": StopReason.CONTENT_FILTER,
    "PROHIBITED_CONTENT": StopReason.CONTENT_FILTER,
    "SPII": StopReason.CONTENT_FILTER,
    "IMAGE_SAFETY": StopReason.CONTENT_FILTER,
    "MALFORMED_FUNCTION_CALL": StopReason.ERROR,
    "UNEXPECTED_TOOL_CALL": StopReason.ERROR,
}


def parse_response(response: Any, provider: Provider = Provider.GOOGLE_GEMINI) -> ParsedResponse:
    """A ``GenerateContentResponse`` (SDK object or dict) as a ``ParsedResponse``."""
    data = as_dict(response)
    candidates = data.get("candidates") or []
    candidate = candidates[0] if candidates else {}
    content = candidate.get("content") or {}
    blocks: list[ContentBlock] = []
    for index, part in enumerate(content.get("parts") or []):
        call = pick(part, "function_call", "functionCall")
        text = part.get("text")
        if call:
            blocks.append(
                ToolCall(
                    tool_name=call.get("name") or "",
                    tool_call_id=call.get("id") or f"call_{index}",
                    input=parse_arguments(call.get("args")),
                )
            )
        elif isinstance(text, str):
            blocks.append(
                ReasoningContent(text=text) if part.get("thought") else TextContent(text=text)
            )
    usage = pick(data, "usage_metadata", "usageMetadata") or {}
    raw_stop = pick(candidate, "finish_reason", "finishReason")
    stop = STOP_REASONS.get(str(raw_stop)) if raw_stop else None
    if stop is StopReason.STOP and any(isinstance(b, ToolCall) for b in blocks):
        stop = StopReason.TOOL_CALL
    return ParsedResponse(
        provider=provider,
        model=pick(data, "model_version", "modelVersion"),
        response_id=pick(data, "response_id", "responseId"),
        content_blocks=merge_text(blocks),
        usage=TokenUsage(
            input_tokens=as_int(pick(usage, "prompt_token_count", "promptTokenCount")),
            output_tokens=as_int(pick(usage, "candidates_token_count", "candidatesTokenCount")),
            reasoning_tokens=as_int(pick(usage, "thoughts_token_count", "thoughtsTokenCount")),
            cache_read_input_tokens=as_int(
                pick(usage, "cached_content_token_count", "cachedContentTokenCount")
            ),
        ),
        stop_reason=stop,
        raw_stop_reason=str(raw_stop) if raw_stop else None,
        raw_response=data,
    )
