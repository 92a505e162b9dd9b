"""A rendered prompt in the OpenTelemetry GenAI JSON shapes, for ``LLMEvent``.

``gen_ai.system_instructions`` is a list of parts; ``gen_ai.input.messages`` a list of
``{"role", "parts"}`` messages; ``gen_ai.tool.definitions`` a list of function tools.
Parts: ``text``, ``uri`` (media by URL), ``blob`` (inline media, base64), ``tool_call``,
``tool_call_response`` and ``reasoning``. Tool results travel in a ``tool`` message, as the
conventions have them.

Inline media over ``BLOB_CONTENT_LIMIT`` bytes is recorded without its content (its
``size`` instead): span attributes are no place for a photograph.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from moxtrace.session.providers._common import tool_schema
from moxtrace.session.rendered import Media, Part, RenderedPrompt
from moxtrace.types.blocks import (
    ReasoningContent,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolResult,
)
from moxtrace.types.schema import SdkTool

__all__ = ["BLOB_CONTENT_LIMIT", "genai_messages", "genai_parts", "genai_tool_definitions"]

BLOB_CONTENT_LIMIT = 16 * 1024
"""Inline media up to this many bytes is recorded with its base64 content."""

_MODALITY = {"image": "image", "pdf": "document"}


def _media(media: Media) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "uri" if media.url is not None else "blob"}
    part["modality"] = _MODALITY[media.kind]
    if media.media_type:
        part["mime_type"] = media.media_type
    if media.url is not None:
        part["uri"] = media.url
    elif media.data is not None and len(media.data) <= BLOB_CONTENT_LIMIT:
        part["content"] = media.base64()
    elif media.data is not None:
        part["size"] = len(media.data)
    return part


def genai_parts(parts: Iterable[Part]) -> list[dict[str, Any]]:
    """Rendered parts as GenAI message parts."""
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextContent):
            out.append({"type": "text", "content": part.text})
        elif isinstance(part, Media):
            out.append(_media(part))
        elif isinstance(part, ToolCall):
            out.append(
                {
                    "type": "tool_call",
                    "id": part.tool_call_id,
                    "name": part.tool_name,
                    "arguments": part.input,
                }
            )
        elif isinstance(part, ToolResult):
            out.append(
                {"type": "tool_call_response", "id": part.tool_call_id, "response": part.content}
            )
        elif isinstance(part, ThinkingContent | ReasoningContent):
            out.append({"type": "reasoning", "content": part.text})
    return out


def genai_messages(rendered: RenderedPrompt) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(system_instructions, input_messages)`` of a rendered prompt."""
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for message in rendered.messages:
        if message.role.value == "system":
            system.extend(genai_parts(message.parts))
            continue
        results = [p for p in message.parts if isinstance(p, ToolResult)]
        if results:
            messages.append({"role": "tool", "parts": genai_parts(results)})
            rest = genai_parts(p for p in message.parts if not isinstance(p, ToolResult))
            if rest:
                messages.append({"role": message.role.value, "parts": rest})
        else:
            messages.append({"role": message.role.value, "parts": genai_parts(message.parts)})
    return system, messages


def genai_tool_definitions(tools: Sequence[SdkTool]) -> list[dict[str, Any]]:
    """Function tools as GenAI ``gen_ai.tool.definitions`` entries (schemas as sent)."""
    out = []
    for tool in tools:
        definition: dict[str, Any] = {"type": "function", "name": tool.name}
        if tool.description:
            definition["description"] = tool.description
        definition["parameters"] = tool_schema(tool)
        out.append(definition)
    return out
