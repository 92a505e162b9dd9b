"""OpenAI Chat Completions: request building, response parsing, stream accumulation.

The invocation is what ``openai.OpenAI().chat.completions.create(**invocation)`` takes:
system messages with the ``system`` role (or ``developer``, for reasoning models),
``max_completion_tokens``, function tools, ``tool_choice`` as ``auto`` / ``required`` /
``none`` / ``{"type": "function", ...}``, and structured output as a ``json_schema``
``response_format``. Tool results become ``tool`` messages; thinking in the history is
left out (Chat Completions has no place for it). PDFs go as ``file`` parts with inline
data: Chat Completions takes no PDF URL.
"""

from __future__ import annotations

from typing import Any, Literal

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
    "STOP_REASONS",
    "OpenAIChatStreamAccumulator",
    "build_invocation",
    "parse_response",
    "request_parameters",
]

SystemRole = Literal["system", "developer"]

STOP_REASONS = {
    "stop": StopReason.STOP,
    "length": StopReason.LENGTH,
    "tool_calls": StopReason.TOOL_CALL,
    "function_call": StopReason.TOOL_CALL,
    "content_filter": StopReason.CONTENT_FILTER,
}


# -- request -------------------------------------------------------------------------
def _media(media: Media, prompt_name: str) -> dict[str, Any]:
    if media.kind == "image":
        return {"type": "image_url", "image_url": {"url": media.data_url()}}
    if media.data is None:
        raise ValueError(
            f"prompt {prompt_name!r} has a PDF by URL ({media.url}); OpenAI Chat Completions "
            "takes PDFs only as data: pass the PDF's bytes, or use the Responses API "
            "(to_openai_responses_invocation), which takes URLs"
        )
    return {
        "type": "file",
        "file": {"file_data": media.data_url(), "filename": media.name or "document.pdf"},
    }


def _user(message: RenderedMessage, prompt_name: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, ToolResult):
            # Tool messages must follow the assistant message holding the calls.
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": part.tool_call_id,
                    "content": tool_result_text(part),
                }
            )
        elif isinstance(part, TextContent):
            if part.text:
                content.append({"type": "text", "text": part.text})
        elif isinstance(part, Media):
            content.append(_media(part, prompt_name))
    if len(content) == 1 and content[0]["type"] == "text":
        out.append({"role": "user", "content": content[0]["text"]})
    elif content:
        out.append({"role": "user", "content": content})
    return out


def _assistant(message: RenderedMessage) -> dict[str, Any] | None:
    texts = [p.text for p in message.parts if isinstance(p, TextContent) and p.text]
    calls = [
        {
            "id": p.tool_call_id,
            "type": "function",
            "function": {"name": p.tool_name, "arguments": dumps(p.input)},
        }
        for p in message.parts
        if isinstance(p, ToolCall)
    ]
    if not texts and not calls:
        return None
    out: dict[str, Any] = {"role": "assistant"}
    if texts:
        out["content"] = "\n\n".join(texts)
    if calls:
        out["tool_calls"] = calls
    return out


def _tool_choice(choice: ToolChoice) -> Any:
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


def build_invocation(
    rendered: RenderedPrompt,
    settings: RequestSettings,
    *,
    system_role: SystemRole = "system",
    stream: bool = False,
) -> dict[str, Any]:
    """The keyword arguments of ``chat.completions.create`` for a rendered prompt."""
    messages: list[dict[str, Any]] = []
    for message in rendered.messages:
        if message.role is MessageRole.SYSTEM:
            messages.append({"role": system_role, "content": message.text})
        elif message.role is MessageRole.USER:
            messages.extend(_user(message, rendered.prompt_name))
        else:
            assistant = _assistant(message)
            if assistant is not None:
                messages.append(assistant)
    invocation: dict[str, Any] = {
        "model": settings.model,
        "messages": messages,
        "max_completion_tokens": settings.max_tokens,
    }
    if settings.temperature is not None:
        invocation["temperature"] = settings.temperature
    if settings.top_p is not None:
        invocation["top_p"] = settings.top_p
    if settings.stop_sequences:
        invocation["stop"] = list(settings.stop_sequences)
    if settings.tools:
        tools = []
        for tool in settings.tools:
            function: dict[str, Any] = {"name": tool.name, "parameters": tool_schema(tool)}
            if tool.description:
                function["description"] = tool.description
            if tool.strict:
                function["strict"] = True
            tools.append({"type": "function", "function": function})
        invocation["tools"] = tools
    if settings.tool_choice is not None:
        invocation["tool_choice"] = _tool_choice(settings.tool_choice)
    schema = settings.structured_output
    if schema is not None:
        json_schema: dict[str, Any] = {
            "name": output_name(schema),
            "schema": tool_schema(schema),
            "strict": schema.strict,
        }
        if schema.description:
            json_schema["description"] = schema.description
        invocation["response_format"] = {"type": "json_schema", "json_schema": json_schema}
    if stream:
        # Without it a streamed completion reports no token usage.
        invocation["stream_options"] = {"include_usage": True}
    return invocation


# -- response ------------------------------------------------------------------------
def parse_response(response: Any, *, raw: bool = True) -> ParsedResponse:
    """A ``ChatCompletion`` (SDK object or dict) as a ``ParsedResponse`` (first choice)."""
    data, raw_data = read_response(response, raw)
    choices = data.get("choices") or []
    choice = choices[0] if choices else {}
    message = choice.get("message") or {}
    blocks: list[ContentBlock] = []
    # Not in OpenAI's own API, but OpenAI-compatible servers (vLLM, DeepSeek) send it.
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
        function = call.get("function") or call.get("custom") or {}
        blocks.append(
            ToolCall(
                tool_name=function.get("name") or "",
                tool_call_id=call.get("id") or "",
                input=parse_arguments(function.get("arguments", function.get("input"))),
            )
        )
    legacy = message.get("function_call")
    if legacy:
        blocks.append(
            ToolCall(
                tool_name=legacy.get("name") or "",
                tool_call_id="",
                input=parse_arguments(legacy.get("arguments")),
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
            cache_creation_input_tokens=as_int(pick(prompt_details, "cache_write_tokens")),
        ),
        stop_reason=STOP_REASONS.get(raw_stop) if raw_stop else None,
        raw_stop_reason=raw_stop,
        raw_response=raw_data,
    )


# -- stream --------------------------------------------------------------------------
class OpenAIChatStreamAccumulator(StreamAccumulator):
    """Accumulates ``chat.completions.create(stream=True)`` chunks (``ChatCompletionChunk``).

    Content, refusal and reasoning deltas of the first choice are concatenated; tool
    calls are assembled by their ``index`` (id and name from the first delta, arguments
    from all); usage comes from the last chunk (sent when ``stream_options.include_usage``
    is set, which ``to_openai_chat_invocation(stream=True)`` does).
    """

    provider = Provider.OPENAI_CHAT

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._head: dict[str, Any] = {}
        self._content: list[str] = []
        self._refusal: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None

    def _add(self, event: dict[str, Any]) -> None:
        for key in ("id", "model", "created"):
            if event.get(key) is not None and key not in self._head:
                self._head[key] = event[key]
        if event.get("usage"):
            self._usage = event["usage"]
        for choice in event.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self._content.append(delta["content"])
            if delta.get("refusal"):
                self._refusal.append(delta["refusal"])
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str):
                self._reasoning.append(reasoning)
            for call in delta.get("tool_calls") or []:
                slot = self._calls.setdefault(
                    call.get("index", 0), {"id": None, "name": None, "arguments": []}
                )
                function = call.get("function") or {}
                slot["id"] = slot["id"] or call.get("id")
                slot["name"] = slot["name"] or function.get("name")
                if function.get("arguments"):
                    slot["arguments"].append(function["arguments"])
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]

    def _result(self) -> ParsedResponse:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(self._content) or None,
            "refusal": "".join(self._refusal) or None,
            "reasoning_content": "".join(self._reasoning) or None,
            "tool_calls": [
                {
                    "id": slot["id"],
                    "type": "function",
                    "function": {"name": slot["name"], "arguments": "".join(slot["arguments"])},
                }
                for _, slot in sorted(self._calls.items())
            ],
        }
        return parse_response(
            {
                **self._head,
                "choices": [{"index": 0, "message": message, "finish_reason": self._finish}],
                "usage": self._usage,
            }
        )
