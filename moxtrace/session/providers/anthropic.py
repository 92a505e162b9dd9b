"""Anthropic Messages API: response parsing."""

from __future__ import annotations

from typing import Any

from moxtrace.session.providers._common import as_dict, as_int, parse_arguments, pick
from moxtrace.types.blocks import ContentBlock, TextContent, ThinkingContent, ToolCall
from moxtrace.types.content import Provider
from moxtrace.types.telemetry import ParsedResponse, StopReason, TokenUsage

__all__ = ["parse_response"]

STOP_REASONS = {
    "end_turn": StopReason.STOP,
    "stop_sequence": StopReason.STOP,
    "pause_turn": StopReason.STOP,
    "max_tokens": StopReason.LENGTH,
    "model_context_window_exceeded": StopReason.LENGTH,
    "tool_use": StopReason.TOOL_CALL,
    "refusal": StopReason.CONTENT_FILTER,
}


def parse_response(response: Any) -> ParsedResponse:
    """A ``Message`` (SDK object or dict) as a ``ParsedResponse``."""
    data = as_dict(response)
    blocks: list[ContentBlock] = []
    for item in data.get("content") or []:
        kind = item.get("type")
        if kind == "text":
            blocks.append(TextContent(text=item.get("text") or ""))
        elif kind in ("tool_use", "server_tool_use"):
            blocks.append(
                ToolCall(
                    tool_name=item.get("name") or "",
                    tool_call_id=item.get("id") or "",
                    input=parse_arguments(item.get("input")),
                )
            )
        elif kind == "thinking":
            blocks.append(
                ThinkingContent(text=item.get("thinking") or "", signature=item.get("signature"))
            )
        elif kind == "redacted_thinking":
            blocks.append(ThinkingContent(text="", signature=item.get("data"), redacted=True))
    usage = data.get("usage") or {}
    raw_stop = data.get("stop_reason")
    return ParsedResponse(
        provider=Provider.ANTHROPIC,
        model=data.get("model"),
        response_id=data.get("id"),
        content_blocks=blocks,
        usage=TokenUsage(
            input_tokens=as_int(pick(usage, "input_tokens")),
            output_tokens=as_int(pick(usage, "output_tokens")),
            cache_read_input_tokens=as_int(pick(usage, "cache_read_input_tokens")),
            cache_creation_input_tokens=as_int(pick(usage, "cache_creation_input_tokens")),
        ),
        stop_reason=STOP_REASONS.get(raw_stop) if raw_stop else None,
        raw_stop_reason=raw_stop,
        raw_response=data,
    )
