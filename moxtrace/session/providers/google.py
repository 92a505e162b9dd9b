"""Google Gemini / Vertex AI ``generate_content``: request building, parsing, streams.

The invocation is what ``google.genai.Client().models.generate_content(**invocation)``
takes: ``model``, ``contents`` (roles ``user`` and ``model``) and ``config`` holding the
system instruction, generation settings, tools (``function_declarations`` with
``parameters_json_schema``), ``tool_config`` and structured output
(``response_mime_type="application/json"`` with ``response_json_schema``: the JSON Schema
as it is, no conversion to Google's OpenAPI subset). The same invocation serves Gemini and
Vertex AI clients.

Parsing reads both the ``google-genai`` SDK's snake_case dump and the REST API's
camelCase JSON. ``output_tokens`` counts the thinking tokens too (Gemini reports them
apart from ``candidates_token_count``), as OpenAI and Anthropic do.
"""

from __future__ import annotations

from typing import Any

from moxtrace.session.providers._common import (
    as_int,
    merge_text,
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
from moxtrace.types.blocks import (
    ContentBlock,
    ReasoningContent,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolResult,
)
from moxtrace.types.content import MessageRole, Provider
from moxtrace.types.telemetry import ParsedResponse, StopReason, TokenUsage

__all__ = [
    "STOP_REASONS",
    "GoogleStreamAccumulator",
    "build_invocation",
    "parse_response",
    "request_parameters",
]

STOP_REASONS = {
    "STOP": StopReason.STOP,
    "MAX_TOKENS": StopReason.LENGTH,
    "SAFETY": StopReason.CONTENT_FILTER,
    "RECITATION": StopReason.CONTENT_FILTER,
    "LANGUAGE": StopReason.CONTENT_FILTER,
    "BLOCKLIST": StopReason.CONTENT_FILTER,
    "PROHIBITED_CONTENT": StopReason.CONTENT_FILTER,
    "SPII": StopReason.CONTENT_FILTER,
    "IMAGE_SAFETY": StopReason.CONTENT_FILTER,
    "IMAGE_PROHIBITED_CONTENT": StopReason.CONTENT_FILTER,
    "IMAGE_RECITATION": StopReason.CONTENT_FILTER,
    "MODEL_ARMOR": StopReason.CONTENT_FILTER,
    "MALFORMED_FUNCTION_CALL": StopReason.ERROR,
    "UNEXPECTED_TOOL_CALL": StopReason.ERROR,
    "TOO_MANY_TOOL_CALLS": StopReason.ERROR,
    "MISSING_THOUGHT_SIGNATURE": StopReason.ERROR,
    "MALFORMED_RESPONSE": StopReason.ERROR,
    "OTHER": StopReason.ERROR,
}


# -- request -------------------------------------------------------------------------
def _media(media: Media) -> dict[str, Any]:
    if media.data is not None:
        return {"inline_data": {"mime_type": media.media_type, "data": media.data}}
    file_data: dict[str, Any] = {"file_uri": media.url}
    if media.media_type:
        file_data["mime_type"] = media.media_type
    elif media.kind == "pdf":
        file_data["mime_type"] = "application/pdf"
    return {"file_data": file_data}


def _result(part: ToolResult, names: dict[str, str]) -> dict[str, Any]:
    content = part.content
    if isinstance(content, dict) and not part.is_error:
        response: dict[str, Any] = content
    else:
        response = {"error" if part.is_error else "output": tool_result_text(part)}
    result: dict[str, Any] = {
        "id": part.tool_call_id,
        "name": part.tool_name or names.get(part.tool_call_id, ""),
        "response": response,
    }
    return {"function_response": result}


def _parts(message: RenderedMessage, names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextContent):
            if part.text:
                parts.append({"text": part.text})
        elif isinstance(part, Media):
            parts.append(_media(part))
        elif isinstance(part, ToolCall):
            parts.append(
                {
                    "function_call": {
                        "id": part.tool_call_id,
                        "name": part.tool_name,
                        "args": part.input,
                    }
                }
            )
        elif isinstance(part, ToolResult):
            parts.append(_result(part, names))
        elif isinstance(part, ThinkingContent | ReasoningContent) and part.text:
            parts.append({"text": part.text, "thought": True})
    return parts


def _tool_config(choice: ToolChoice) -> dict[str, Any]:
    if choice.mode == "tool":
        config: dict[str, Any] = {"mode": "ANY", "allowed_function_names": [choice.name]}
    else:
        config = {"mode": {"auto": "AUTO", "required": "ANY", "none": "NONE"}[choice.mode]}
    return {"function_calling_config": config}


def build_invocation(rendered: RenderedPrompt, settings: RequestSettings) -> dict[str, Any]:
    """The keyword arguments of ``models.generate_content`` for a rendered prompt."""
    names = rendered.tool_names()
    contents = []
    for message in rendered.conversation:
        parts = _parts(message, names)
        if parts:
            role = "model" if message.role is MessageRole.ASSISTANT else "user"
            contents.append({"role": role, "parts": parts})
    config: dict[str, Any] = {"max_output_tokens": settings.max_tokens}
    system = [{"text": m.text} for m in rendered.system if m.text]
    if system:
        config["system_instruction"] = {"parts": system}
    if settings.temperature is not None:
        config["temperature"] = settings.temperature
    if settings.top_p is not None:
        config["top_p"] = settings.top_p
    if settings.stop_sequences:
        config["stop_sequences"] = list(settings.stop_sequences)
    if settings.tools:
        declarations = []
        for tool in settings.tools:
            declaration: dict[str, Any] = {
                "name": tool.name,
                "parameters_json_schema": tool_schema(tool),
            }
            if tool.description:
                declaration["description"] = tool.description
            declarations.append(declaration)
        config["tools"] = [{"function_declarations": declarations}]
    if settings.tool_choice is not None:
        config["tool_config"] = _tool_config(settings.tool_choice)
    if settings.structured_output is not None:
        config["response_mime_type"] = "application/json"
        config["response_json_schema"] = tool_schema(settings.structured_output)
    return {"model": settings.model, "contents": contents, "config": config}


# -- response ------------------------------------------------------------------------
def parse_response(
    response: Any, provider: Provider = Provider.GOOGLE_GEMINI, *, raw: bool = True
) -> ParsedResponse:
    """A ``GenerateContentResponse`` (SDK object or dict) as a ``ParsedResponse``."""
    data, raw_data = read_response(response, raw)
    candidates = data.get("candidates") or []
    candidate = candidates[0] if candidates else {}
    content = candidate.get("content") or {}
    blocks: list[ContentBlock] = []
    calls = 0
    for part in content.get("parts") or []:
        call = pick(part, "function_call", "functionCall")
        text = part.get("text")
        if call:
            # Gemini gives no call ids; number them, the same way streamed or not.
            blocks.append(
                ToolCall(
                    tool_name=call.get("name") or "",
                    tool_call_id=call.get("id") or f"call_{calls}",
                    input=parse_arguments(call.get("args")),
                )
            )
            calls += 1
        elif isinstance(text, str):
            blocks.append(
                ReasoningContent(text=text) if part.get("thought") else TextContent(text=text)
            )
    usage = pick(data, "usage_metadata", "usageMetadata") or {}
    raw_stop = pick(candidate, "finish_reason", "finishReason")
    stop = STOP_REASONS.get(str(raw_stop)) if raw_stop else None
    if stop is StopReason.STOP and any(isinstance(b, ToolCall) for b in blocks):
        stop = StopReason.TOOL_CALL
    candidates_tokens = as_int(pick(usage, "candidates_token_count", "candidatesTokenCount"))
    thoughts = as_int(pick(usage, "thoughts_token_count", "thoughtsTokenCount"))
    output = None
    if candidates_tokens is not None or thoughts is not None:
        output = (candidates_tokens or 0) + (thoughts or 0)
    return ParsedResponse(
        provider=provider,
        model=pick(data, "model_version", "modelVersion"),
        response_id=pick(data, "response_id", "responseId"),
        content_blocks=merge_text(blocks),
        usage=TokenUsage(
            input_tokens=as_int(pick(usage, "prompt_token_count", "promptTokenCount")),
            output_tokens=output,
            reasoning_tokens=thoughts,
            cache_read_input_tokens=as_int(
                pick(usage, "cached_content_token_count", "cachedContentTokenCount")
            ),
        ),
        stop_reason=stop,
        raw_stop_reason=str(raw_stop) if raw_stop else None,
        raw_response=raw_data,
    )


# -- stream --------------------------------------------------------------------------
class GoogleStreamAccumulator(StreamAccumulator):
    """Accumulates ``models.generate_content_stream`` chunks (``GenerateContentResponse``).

    Each chunk holds the next parts of the first candidate: they are appended in order
    (the parser joins adjacent text); the finish reason, the usage (cumulative) and the
    ids come from the latest chunk that has them.
    """

    def __init__(self, provider: Provider = Provider.GOOGLE_GEMINI, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.provider = provider
        self._parts: list[dict[str, Any]] = []
        self._head: dict[str, Any] = {}
        self._finish: Any = None

    def _add(self, event: dict[str, Any]) -> None:
        for keys in (
            ("response_id", "responseId"),
            ("model_version", "modelVersion"),
            ("usage_metadata", "usageMetadata"),
        ):
            value = pick(event, *keys)
            if value is not None:
                self._head[keys[0]] = value
        candidates = event.get("candidates") or []
        if candidates:
            candidate = candidates[0]
            content = candidate.get("content") or {}
            self._parts.extend(content.get("parts") or [])
            finish = pick(candidate, "finish_reason", "finishReason")
            if finish is not None:
                self._finish = finish

    def _result(self) -> ParsedResponse:
        candidate = {
            "content": {"role": "model", "parts": self._parts},
            "finish_reason": self._finish,
        }
        return parse_response({**self._head, "candidates": [candidate]}, self.provider)
