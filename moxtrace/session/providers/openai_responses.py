"""OpenAI Responses API: request building, response parsing, stream accumulation.

The invocation is what ``openai.OpenAI().responses.create(**invocation)`` takes: system
messages as ``instructions``, the conversation as ``input`` items (messages,
``function_call`` and ``function_call_output`` items, ``reasoning`` items that carry the id
the API gave them), ``max_output_tokens``, function tools, and structured output as
``text.format``. The Responses API has no stop sequences: a prompt's are not sent.
"""

from __future__ import annotations

from typing import Any

from moxtrace.session.providers._common import (
    as_int,
    dumps,
    output_name,
    parse_arguments,
    pick,
    read_response,
    request_parameters,
    tool_result_text,
    tool_schema,
)
from moxtrace.session.rendered import Media, RenderedMessage, RenderedPrompt
from moxtrace.session.request import RequestSettings, ToolChoice
from moxtrace.session.stream import StreamAccumulator
from moxtrace.types.blocks import ContentBlock, ReasoningContent, TextContent, ToolCall, ToolResult
from moxtrace.types.content import MessageRole, Provider
from moxtrace.types.telemetry import ParsedResponse, StopReason, TokenUsage

__all__ = [
    "OpenAIResponsesStreamAccumulator",
    "build_invocation",
    "parse_response",
    "request_parameters",
    "stop_reason",
]


# -- request -------------------------------------------------------------------------
def _media(media: Media) -> dict[str, Any]:
    if media.kind == "image":
        return {"type": "input_image", "image_url": media.data_url(), "detail": "auto"}
    if media.url is not None:
        return {"type": "input_file", "file_url": media.url}
    return {
        "type": "input_file",
        "file_data": media.data_url(),
        "filename": media.name or "document.pdf",
    }


def _user(message: RenderedMessage) -> list[dict[str, Any]]:
    outputs: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, ToolResult):
            outputs.append(
                {
                    "type": "function_call_output",
                    "call_id": part.tool_call_id,
                    "output": tool_result_text(part),
                }
            )
        elif isinstance(part, TextContent):
            if part.text:
                content.append({"type": "input_text", "text": part.text})
        elif isinstance(part, Media):
            content.append(_media(part))
    if content:
        outputs.append({"role": "user", "content": content})
    return outputs


def _assistant(message: RenderedMessage) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    texts: list[str] = []

    def flush() -> None:
        if texts:
            items.append({"role": "assistant", "content": "\n\n".join(texts)})
            texts.clear()

    for part in message.parts:
        if isinstance(part, TextContent):
            if part.text:
                texts.append(part.text)
        elif isinstance(part, ToolCall):
            flush()
            items.append(
                {
                    "type": "function_call",
                    "call_id": part.tool_call_id,
                    "name": part.tool_name,
                    "arguments": dumps(part.input),
                }
            )
        elif isinstance(part, ReasoningContent) and part.id:
            # A reasoning item goes back only under the id the API gave it.
            flush()
            items.append(
                {
                    "type": "reasoning",
                    "id": part.id,
                    "summary": [{"type": "summary_text", "text": part.text}] if part.text else [],
                }
            )
    flush()
    return items


def _tool_choice(choice: ToolChoice) -> Any:
    if choice.mode == "tool":
        return {"type": "function", "name": choice.name}
    return choice.mode


def build_invocation(rendered: RenderedPrompt, settings: RequestSettings) -> dict[str, Any]:
    """The keyword arguments of ``responses.create`` for a rendered prompt."""
    items: list[dict[str, Any]] = []
    for message in rendered.conversation:
        if message.role is MessageRole.USER:
            items.extend(_user(message))
        else:
            items.extend(_assistant(message))
    invocation: dict[str, Any] = {
        "model": settings.model,
        "input": items,
        "max_output_tokens": settings.max_tokens,
    }
    if rendered.system_text:
        invocation["instructions"] = rendered.system_text
    if settings.temperature is not None:
        invocation["temperature"] = settings.temperature
    if settings.top_p is not None:
        invocation["top_p"] = settings.top_p
    if settings.tools:
        tools = []
        for tool in settings.tools:
            spec: dict[str, Any] = {
                "type": "function",
                "name": tool.name,
                "parameters": tool_schema(tool),
                "strict": tool.strict,
            }
            if tool.description:
                spec["description"] = tool.description
            tools.append(spec)
        invocation["tools"] = tools
    if settings.tool_choice is not None:
        invocation["tool_choice"] = _tool_choice(settings.tool_choice)
    schema = settings.structured_output
    if schema is not None:
        text_format: dict[str, Any] = {
            "type": "json_schema",
            "name": output_name(schema),
            "schema": tool_schema(schema),
            "strict": schema.strict,
        }
        if schema.description:
            text_format["description"] = schema.description
        invocation["text"] = {"format": text_format}
    return invocation


# -- response ------------------------------------------------------------------------
def stop_reason(
    status: str | None, incomplete_reason: str | None, has_tool_calls: bool
) -> tuple[StopReason | None, str]:
    """The stop reason of a response with ``status`` (and ``incomplete_details.reason``),
    and the raw reason recorded beside it."""
    status = status or "completed"
    if status in ("failed", "cancelled"):
        return StopReason.ERROR, status
    if status == "incomplete":
        reason = incomplete_reason or status
        if reason == "content_filter":
            return StopReason.CONTENT_FILTER, reason
        return StopReason.LENGTH, reason
    if status in ("in_progress", "queued"):
        return None, status
    if has_tool_calls:
        return StopReason.TOOL_CALL, status
    return StopReason.STOP, status


def _reasoning_text(item: dict[str, Any]) -> str:
    summary = [s.get("text") or "" for s in item.get("summary") or [] if isinstance(s, dict)]
    if any(summary):
        return "\n".join(summary)
    content = item.get("content") or []
    return "".join(c.get("text") or "" for c in content if isinstance(c, dict))


def parse_response(response: Any, *, raw: bool = True) -> ParsedResponse:
    """A ``Response`` (SDK object or dict) as a ``ParsedResponse``."""
    data, raw_data = read_response(response, raw)
    blocks: list[ContentBlock] = []
    for item in data.get("output") or []:
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or []:
                if part.get("type") == "output_text":
                    blocks.append(TextContent(text=part.get("text") or ""))
                elif part.get("type") == "refusal":
                    blocks.append(TextContent(text=part.get("refusal") or ""))
        elif kind in ("function_call", "custom_tool_call"):
            raw = item.get("arguments") if kind == "function_call" else item.get("input")
            blocks.append(
                ToolCall(
                    tool_name=item.get("name") or "",
                    tool_call_id=item.get("call_id") or item.get("id") or "",
                    input=parse_arguments(raw),
                )
            )
        elif kind == "reasoning":
            blocks.append(ReasoningContent(text=_reasoning_text(item), id=item.get("id")))
    usage = data.get("usage") or {}
    input_details = usage.get("input_tokens_details") or {}
    output_details = usage.get("output_tokens_details") or {}
    stop, raw_stop = stop_reason(
        data.get("status"),
        (data.get("incomplete_details") or {}).get("reason"),
        any(isinstance(b, ToolCall) for b in blocks),
    )
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
            cache_creation_input_tokens=as_int(pick(input_details, "cache_write_tokens")),
        ),
        stop_reason=stop,
        raw_stop_reason=raw_stop,
        raw_response=raw_data,
    )


# -- stream --------------------------------------------------------------------------
_FINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")


class OpenAIResponsesStreamAccumulator(StreamAccumulator):
    """Accumulates ``responses.create(stream=True)`` events (``ResponseStreamEvent``).

    The terminal event (``response.completed`` / ``incomplete`` / ``failed``) carries the
    whole response and is used as it is. Until it arrives, output items are rebuilt from
    ``response.output_item.added`` / ``.done`` and the text, refusal, argument and
    reasoning deltas, so a stream cut short still gives what it produced.
    """

    provider = Provider.OPENAI_RESPONSES

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._response: dict[str, Any] = {}
        self._final: dict[str, Any] | None = None
        self._items: dict[int, dict[str, Any]] = {}
        self._done: set[int] = set()

    def _item(self, event: dict[str, Any]) -> dict[str, Any] | None:
        index = event.get("output_index")
        if not isinstance(index, int) or index in self._done:
            return None
        return self._items.setdefault(index, {"type": "message", "content": []})

    def _add(self, event: dict[str, Any]) -> None:
        kind = event.get("type") or ""
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            item = self._item(event)
            if item is not None:
                field = "text" if kind == "response.output_text.delta" else "refusal"
                ptype = "output_text" if field == "text" else "refusal"
                content = item.setdefault("content", [])
                index = event.get("content_index", 0)
                while len(content) <= index:
                    content.append({"type": ptype, field: ""})
                content[index][field] = (content[index].get(field) or "") + (
                    event.get("delta") or ""
                )
        elif kind == "response.function_call_arguments.delta":
            item = self._item(event)
            if item is not None:
                item["arguments"] = (item.get("arguments") or "") + (event.get("delta") or "")
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            item = self._item(event)
            if item is not None:
                key = "summary" if "summary" in kind else "content"
                parts = item.setdefault(key, [])
                index = event.get("summary_index" if key == "summary" else "content_index", 0)
                while len(parts) <= index:
                    parts.append(
                        {
                            "type": "summary_text" if key == "summary" else "reasoning_text",
                            "text": "",
                        }
                    )
                parts[index]["text"] = (parts[index].get("text") or "") + (event.get("delta") or "")
        elif kind == "response.output_item.added":
            index = event.get("output_index")
            if isinstance(index, int):
                self._items[index] = dict(event.get("item") or {})
        elif kind == "response.output_item.done":
            index = event.get("output_index")
            if isinstance(index, int):
                self._items[index] = dict(event.get("item") or {})
                self._done.add(index)
        elif kind in ("response.created", "response.in_progress", "response.queued"):
            self._response = dict(event.get("response") or {})
        elif kind in _FINAL_EVENTS:
            self._final = dict(event.get("response") or {})

    def _result(self) -> ParsedResponse:
        if self._final is not None:
            return parse_response(self._final)
        output = [self._items[i] for i in sorted(self._items)]
        return parse_response({**self._response, "output": output})
