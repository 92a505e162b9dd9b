"""Anthropic Messages API: request building, response parsing, stream accumulation.

The invocation is what ``anthropic.Anthropic().messages.create(**invocation)`` takes:
``system`` as text blocks, tools with ``input_schema``, ``tool_choice`` as
``{"type": "auto" | "any" | "none" | "tool"}``, structured output as
``output_config.format`` (or, with ``structured_output="tool"``, a forced tool).

Sampling parameters: the ``anthropic`` SDK (1.0 and later) no longer takes
``temperature`` or ``top_p``, and API version 2026-10-21 (the default of ``anthropic``
2.x) rejects them. A prompt's configured ``temperature`` / ``top_p`` are therefore not
sent; given explicitly as keyword arguments they are sent through ``extra_body``, for
those who pin an older API version.
"""

from __future__ import annotations

from typing import Any, Literal

from moxtrace.session.providers._common import (
    as_int,
    parse_arguments,
    pick,
    read_response,
    tool_result_text,
    tool_schema,
)
from moxtrace.session.rendered import Media, RenderedMessage, RenderedPrompt
from moxtrace.session.request import RequestSettings, ToolChoice
from moxtrace.session.stream import StreamAccumulator
from moxtrace.types.blocks import (
    ContentBlock,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolResult,
)
from moxtrace.types.content import Provider
from moxtrace.types.schema import SdkTool
from moxtrace.types.telemetry import ParsedResponse, StopReason, TokenUsage

__all__ = [
    "STOP_REASONS",
    "AnthropicStreamAccumulator",
    "build_invocation",
    "parse_response",
    "request_parameters",
]

StructuredOutputMode = Literal["output_config", "tool"]

STOP_REASONS = {
    "end_turn": StopReason.STOP,
    "stop_sequence": StopReason.STOP,
    "pause_turn": StopReason.STOP,
    "max_tokens": StopReason.LENGTH,
    "model_context_window_exceeded": StopReason.LENGTH,
    "tool_use": StopReason.TOOL_CALL,
    "refusal": StopReason.CONTENT_FILTER,
}


# -- request -------------------------------------------------------------------------
def _media(media: Media) -> dict[str, Any]:
    if media.url is not None:
        source: dict[str, Any] = {"type": "url", "url": media.url}
    else:
        source = {"type": "base64", "media_type": media.media_type, "data": media.base64()}
    if media.kind == "image":
        return {"type": "image", "source": source}
    block: dict[str, Any] = {"type": "document", "source": source}
    if media.name:
        block["title"] = media.name
    return block


def _content(message: RenderedMessage) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextContent):
            if part.text:
                content.append({"type": "text", "text": part.text})
        elif isinstance(part, Media):
            content.append(_media(part))
        elif isinstance(part, ToolCall):
            content.append(
                {
                    "type": "tool_use",
                    "id": part.tool_call_id,
                    "name": part.tool_name,
                    "input": part.input,
                }
            )
        elif isinstance(part, ToolResult):
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": part.tool_call_id,
                "content": tool_result_text(part),
            }
            if part.is_error:
                result["is_error"] = True
            results.append(result)
        elif isinstance(part, ThinkingContent):
            # Thinking goes back only with the signature the API gave it.
            if part.redacted and part.signature:
                content.append({"type": "redacted_thinking", "data": part.signature})
            elif part.signature:
                content.append(
                    {"type": "thinking", "thinking": part.text, "signature": part.signature}
                )
    # Tool results must open the user turn that answers the tool calls.
    return results + content


def _tool(tool: SdkTool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name, "input_schema": tool_schema(tool)}
    if tool.description:
        out["description"] = tool.description
    if tool.strict:
        out["strict"] = True
    return out


def _tool_choice(choice: ToolChoice) -> dict[str, Any]:
    if choice.mode == "tool":
        return {"type": "tool", "name": choice.name}
    return {"type": {"auto": "auto", "required": "any", "none": "none"}[choice.mode]}


def build_invocation(
    rendered: RenderedPrompt,
    settings: RequestSettings,
    *,
    structured_output: StructuredOutputMode = "output_config",
) -> dict[str, Any]:
    """The keyword arguments of ``messages.create`` for a rendered prompt."""
    messages = []
    for message in rendered.conversation:
        content = _content(message)
        if content:
            messages.append({"role": message.role.value, "content": content})
    invocation: dict[str, Any] = {
        "model": settings.model,
        "max_tokens": settings.max_tokens,
        "messages": messages,
    }
    system = [{"type": "text", "text": m.text} for m in rendered.system if m.text]
    if system:
        invocation["system"] = system
    if settings.stop_sequences:
        invocation["stop_sequences"] = list(settings.stop_sequences)
    sampling = {
        name: value
        for name, value in (("temperature", settings.temperature), ("top_p", settings.top_p))
        if value is not None and name in settings.explicit
    }
    if sampling:
        invocation["extra_body"] = sampling
    tools = [_tool(t) for t in settings.tools]
    choice = _tool_choice(settings.tool_choice) if settings.tool_choice else None
    schema = settings.structured_output
    if schema is not None and structured_output == "tool":
        tools.append(_tool(schema))
        choice = {"type": "tool", "name": schema.name}
    elif schema is not None:
        invocation["output_config"] = {
            "format": {"type": "json_schema", "schema": tool_schema(schema)}
        }
    if tools:
        invocation["tools"] = tools
    if choice is not None:
        invocation["tool_choice"] = choice
    return invocation


def request_parameters(settings: RequestSettings) -> dict[str, Any]:
    """The request parameters an Anthropic invocation with ``settings`` sends."""
    params: dict[str, Any] = {"max_tokens": settings.max_tokens}
    for name in ("temperature", "top_p"):
        value = getattr(settings, name)
        if value is not None and name in settings.explicit:
            params[name] = value
    return params


# -- response ------------------------------------------------------------------------
def parse_response(response: Any, *, raw: bool = True) -> ParsedResponse:
    """A ``Message`` (SDK object or dict) as a ``ParsedResponse``."""
    data, raw_data = read_response(response, raw)
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
    details = usage.get("output_tokens_details") or {}
    raw_stop = data.get("stop_reason")
    cache_read = as_int(pick(usage, "cache_read_input_tokens"))
    cache_creation = as_int(pick(usage, "cache_creation_input_tokens"))
    input_tokens = as_int(pick(usage, "input_tokens"))
    if input_tokens is not None:
        # Anthropic counts cached input apart; the GenAI conventions (and every other
        # provider) count all input: uncached + read from cache + written to cache.
        input_tokens += (cache_read or 0) + (cache_creation or 0)
    return ParsedResponse(
        provider=Provider.ANTHROPIC,
        model=data.get("model"),
        response_id=data.get("id"),
        content_blocks=blocks,
        usage=TokenUsage(
            input_tokens=input_tokens,
            output_tokens=as_int(pick(usage, "output_tokens")),
            reasoning_tokens=as_int(pick(details, "thinking_tokens")),
            cache_read_input_tokens=cache_read,
            cache_creation_input_tokens=cache_creation,
        ),
        stop_reason=STOP_REASONS.get(raw_stop) if raw_stop else None,
        raw_stop_reason=raw_stop,
        raw_response=raw_data,
    )


# -- stream --------------------------------------------------------------------------
class AnthropicStreamAccumulator(StreamAccumulator):
    """Accumulates ``messages.create(stream=True)`` events (``RawMessageStreamEvent``).

    ``message_start`` opens the message, ``content_block_*`` build its blocks (text,
    thinking and its signature, tool input JSON), ``message_delta`` brings the stop
    reason and the final usage.
    """

    provider = Provider.ANTHROPIC

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._message: dict[str, Any] = {"content": []}
        self._blocks: dict[int, dict[str, Any]] = {}
        self._json: dict[int, list[str]] = {}

    def _add(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "content_block_delta":
            index = event.get("index", 0)
            delta = event.get("delta") or {}
            block = self._blocks.setdefault(index, {"type": "text", "text": ""})
            dtype = delta.get("type")
            if dtype == "text_delta":
                block["text"] = (block.get("text") or "") + (delta.get("text") or "")
            elif dtype == "input_json_delta":
                self._json.setdefault(index, []).append(delta.get("partial_json") or "")
            elif dtype == "thinking_delta":
                block["thinking"] = (block.get("thinking") or "") + (delta.get("thinking") or "")
            elif dtype == "signature_delta":
                block["signature"] = delta.get("signature")
        elif kind == "content_block_start":
            self._blocks[event.get("index", 0)] = dict(event.get("content_block") or {})
        elif kind == "message_start":
            message = dict(event.get("message") or {})
            message["usage"] = dict(message.get("usage") or {})
            self._message = message
        elif kind == "message_delta":
            delta = event.get("delta") or {}
            for key in ("stop_reason", "stop_sequence"):
                if delta.get(key) is not None:
                    self._message[key] = delta[key]
            usage = self._message.setdefault("usage", {})
            for key, value in (event.get("usage") or {}).items():
                if value is not None:
                    usage[key] = value

    def _result(self) -> ParsedResponse:
        content = []
        for index in sorted(self._blocks):
            block = dict(self._blocks[index])
            if index in self._json:
                block["input"] = parse_arguments("".join(self._json[index]))
            content.append(block)
        return parse_response({**self._message, "content": content})
