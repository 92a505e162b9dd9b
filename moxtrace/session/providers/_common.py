"""Helpers shared by the provider modules: tool schemas, tool results, text merging, request
parameters."""

from __future__ import annotations

import re
from typing import Any

from moxtrace.session._wire import as_dict, as_int, dumps, parse_arguments, pick, read_response
from moxtrace.session.request import RequestSettings
from moxtrace.types.blocks import (
    ContentBlock,
    ReasoningContent,
    TextContent,
    ThinkingContent,
    ToolResult,
)
from moxtrace.types.schema import SdkTool

__all__ = [
    "as_dict",
    "as_int",
    "dumps",
    "merge_text",
    "output_name",
    "parse_arguments",
    "pick",
    "read_response",
    "request_parameters",
    "tool_result_text",
    "tool_schema",
]


def merge_text(blocks: list[ContentBlock]) -> list[ContentBlock]:
    """Adjacent text blocks joined into one; so are adjacent reasoning blocks."""
    out: list[ContentBlock] = []
    for block in blocks:
        last = out[-1] if out else None
        if isinstance(block, TextContent) and isinstance(last, TextContent):
            out[-1] = TextContent(text=last.text + block.text)
        elif (
            isinstance(block, ReasoningContent)
            and isinstance(last, ReasoningContent)
            and block.id == last.id
        ):
            out[-1] = ReasoningContent(text=last.text + block.text, id=last.id)
        elif (
            isinstance(block, ThinkingContent)
            and isinstance(last, ThinkingContent)
            and not (block.redacted or last.redacted)
        ):
            out[-1] = ThinkingContent(
                text=last.text + block.text, signature=block.signature or last.signature
            )
        else:
            out.append(block)
    return out


def tool_result_text(result: ToolResult) -> str:
    """A tool result's content as the text providers take: strings as they are, else JSON."""
    content = result.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return dumps(content)


def tool_schema(tool: SdkTool) -> dict[str, Any]:
    """A tool's JSON Schema as providers take it: an object schema, Moxn metadata removed."""
    schema = {k: v for k, v in tool.parameters.items() if k != "x-moxn-metadata"}
    if not schema:
        return {"type": "object", "properties": {}}
    return schema


_NAME = re.compile(r"[^a-zA-Z0-9_-]")


def output_name(tool: SdkTool) -> str:
    """A structured-output schema's name within OpenAI's rules (``[a-zA-Z0-9_-]{1,64}``)."""
    return _NAME.sub("_", tool.name)[:64] or "output"


def request_parameters(settings: RequestSettings) -> dict[str, Any]:
    """The request parameters an invocation with ``settings`` sends, for the providers that
    send each of them whenever it is set (OpenAI Chat, OpenAI Responses, Google; Anthropic's
    differ)."""
    return {
        name: value
        for name, value in (
            ("max_tokens", settings.max_tokens),
            ("temperature", settings.temperature),
            ("top_p", settings.top_p),
        )
        if value is not None
    }
