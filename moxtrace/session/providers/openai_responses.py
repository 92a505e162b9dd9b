"""OpenAI Responses API: response parsing."""

from __future__ import annotations

from typing import Any

from moxtrace.session.providers._common import as_dict, as_int, parse_arguments, pick
from moxtrace.types.blocks import ContentBlock, ReasoningContent, TextContent, ToolCall
from moxtrace.types.content import Provider
from moxtrace.types.telemetry import ParsedResponse, StopReason, TokenUsage

__all__ = ["parse_response"]


def _stop_reason(data: dict[str, Any], has_tool_calls: bool) -> tuple[StopReason | None, str]:
    status = data.get("status") or "completed"
    if status == "failed":
        return StopReason.ERROR, status
    if status == "incomplete":
        reason = (data.get("incomplete_details") or {}).get("reason") or status
        if reason == "content_filter":
            return StopReason.CONTENT_FILTER, reason
        return StopReason.LENGTH, reason
    if has_tool_calls:
        return StopReason.TOOL_CALL, status
    return StopReason.STOP, status


def parse_response(response: Any) -> ParsedResponse:
    """A ``Response`` (SDK object or dict) as a ``ParsedResponse``."""
    data = as_dict(response)
    blocks: list[ContentBlock] = []
    for item in data.get("output") or []:
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or []:
                if part.get("type") == "output_text":
                    blocks.append(TextContent(text=part.get("text") or ""))
                elif part.get("type") == "refusal":
                    blocks.append(TextContent(text=part.get("refusal") or ""))
        elif kind == "function_call":
            blocks.append(
                ToolCall(
                    tool_name=item.get("name") or "",
                    tool_call_id=item.get("call_id") or item.get("id") or "",
                    input=parse_arguments(item.get("arguments")),
                )
            )
        elif kind == "reasoning":
            summary = item.get("summary") or []
            text = "\n".join(s.get("text") or "" for s in summary if isinstance(s, dict))
            blocks.append(ReasoningContent(text=text, id=item.get("id")))
    usage = data.get("usage") or {}
    input_details = usage.get("input_tokens_details") or {}
    output_details = usage.get("output_tokens_details") or {}
    stop, raw_stop = _stop_reason(data, any(isinstance(b, ToolCall) for b in blocks))
    return ParsedResponse(
        provider=Provider.OPENAI_RESPONSES,
        model=data.get("model"),
        response_id=data.get("id"),
        content_blocks=blocks,
        usage=TokenUsage(
            input_tokens=as_int(pick(usage, "input_tokens")),
            output_tokens=as_int(pick(usage, "output_tokens")),
            reasoning_tokens=as_int(pick(output_details, "reasoning_tokens")),
            cache_read_input_tokens=as_int(pick(input_details, "cached_tokens")),
        ),
        stop_reason=stop,
        raw_stop_reason=raw_stop,
        raw_response=data,
    )
