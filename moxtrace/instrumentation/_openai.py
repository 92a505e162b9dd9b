"""OpenAI ``chat.completions.create`` and ``responses.create``: what a call asked for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moxtrace.instrumentation._request import (
    Content,
    Request,
    blob_part,
    data_url_part,
    is_mapping,
    new_content,
    new_request,
    number,
    plain,
    reasoning_part,
    sequence,
    text,
    text_part,
    tool_call_part,
    tool_response_part,
    uri_part,
)

__all__ = [
    "read_chat_content",
    "read_chat_request",
    "read_responses_content",
    "read_responses_request",
]

_SYSTEM_ROLES = ("system", "developer")


_CHAT_PARAMETERS = frozenset(("max_completion_tokens", "max_tokens", "temperature", "top_p"))
_RESPONSES_PARAMETERS = frozenset(("max_output_tokens", "temperature", "top_p"))


def _parameters(
    kwargs: Mapping[str, Any], names: frozenset[str], *max_tokens: str
) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    if kwargs.keys().isdisjoint(names):  # none given, the common case: one lookup in C
        return parameters
    for name in max_tokens:
        value = kwargs.get(name)
        if value is not None and number(value) is not None:
            parameters["max_tokens"] = value
            break
    for name in ("temperature", "top_p"):
        value = kwargs.get(name)
        if value is not None and number(value) is not None:
            parameters[name] = value
    return parameters


def read_chat_request(kwargs: Mapping[str, Any]) -> Request:
    """Model, ``max_completion_tokens`` (or ``max_tokens``), ``temperature``, ``top_p``."""
    return new_request(
        (
            text(kwargs.get("model")),
            _parameters(kwargs, _CHAT_PARAMETERS, "max_completion_tokens", "max_tokens"),
            kwargs.get("stream") is True,
        )
    )


def read_responses_request(kwargs: Mapping[str, Any]) -> Request:
    """Model, ``max_output_tokens``, ``temperature``, ``top_p``."""
    return new_request(
        (
            text(kwargs.get("model")),
            _parameters(kwargs, _RESPONSES_PARAMETERS, "max_output_tokens"),
            kwargs.get("stream") is True,
        )
    )


def _parts(content: Any) -> list[dict[str, Any]]:
    """A message's content (a string or a list of parts) as GenAI parts."""
    if isinstance(content, str):
        return [{"type": "text", "content": content}]  # text_part's, without the call
    parts: list[dict[str, Any]] = []
    for raw in sequence(content):
        part = plain(raw)
        if not is_mapping(part):
            continue
        kind = part.get("type")
        if kind in ("text", "input_text", "output_text"):
            parts.append(text_part(str(part.get("text") or "")))
        elif kind == "refusal":
            parts.append(text_part(str(part.get("refusal") or "")))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if is_mapping(image) else image
            if isinstance(url, str):
                parts.append(data_url_part("image", url))
        elif kind == "input_image":
            url = part.get("image_url")
            if isinstance(url, str):
                parts.append(data_url_part("image", url))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            parts.append(blob_part("audio", audio.get("data"), f"audio/{audio.get('format')}"))
        elif kind == "file":
            file = part.get("file") or {}
            if isinstance(file.get("file_data"), str):
                parts.append(data_url_part("document", file["file_data"]))
        elif kind == "input_file":
            if isinstance(part.get("file_url"), str):
                parts.append(uri_part("document", part["file_url"]))
            elif isinstance(part.get("file_data"), str):
                parts.append(data_url_part("document", part["file_data"]))
    return parts


def _function_tools(raw_tools: Any, nested: bool) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    for raw in sequence(raw_tools):
        tool = plain(raw)
        if not is_mapping(tool):
            continue
        if tool.get("type") == "function":
            function = tool.get("function") if nested else tool
            if not is_mapping(function):
                continue
            definition: dict[str, Any] = {"type": "function", "name": function.get("name")}
            if function.get("description"):
                definition["description"] = function["description"]
            if function.get("parameters") is not None:
                definition["parameters"] = function["parameters"]
            tools.append(definition)
        else:
            tools.append({"type": str(tool.get("type") or "tool"), "name": tool.get("name")})
    return tools


def read_chat_content(kwargs: Mapping[str, Any]) -> Content:
    """``messages`` (system and developer messages as system instructions) and ``tools``."""
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for raw in sequence(kwargs.get("messages")):
        message = raw if raw.__class__ is dict else plain(raw)
        if not is_mapping(message):
            continue
        role = message.get("role") or "user"
        if role.__class__ is not str:
            role = str(role)
        content = message.get("content")
        if role in _SYSTEM_ROLES:
            system.extend(_parts(content))
        elif role == "tool":
            response = tool_response_part(message.get("tool_call_id"), content)
            messages.append({"role": "tool", "parts": [response]})
        else:
            parts = _parts(content)
            tool_calls = message.get("tool_calls")
            for raw_call in sequence(tool_calls) if tool_calls else ():
                call = plain(raw_call)
                if is_mapping(call):
                    function = call.get("function") or {}
                    parts.append(
                        tool_call_part(
                            call.get("id"), function.get("name"), function.get("arguments")
                        )
                    )
            messages.append({"role": role, "parts": parts})
    tools = kwargs.get("tools")
    return new_content((system, messages, _function_tools(tools, nested=True) if tools else []))


def read_responses_content(kwargs: Mapping[str, Any]) -> Content:
    """``instructions``, ``input`` (a string or a list of items) and ``tools``."""
    system: list[dict[str, Any]] = []
    instructions = kwargs.get("instructions")
    if isinstance(instructions, str):
        system.append(text_part(instructions))
    messages: list[dict[str, Any]] = []
    raw_input = kwargs.get("input")
    if isinstance(raw_input, str):
        messages.append({"role": "user", "parts": [text_part(raw_input)]})
    for raw in sequence(raw_input):
        item = plain(raw)
        if not is_mapping(item):
            continue
        kind = item.get("type")
        if kind == "function_call":
            call = tool_call_part(item.get("call_id"), item.get("name"), item.get("arguments"))
            messages.append({"role": "assistant", "parts": [call]})
        elif kind == "function_call_output":
            result = tool_response_part(item.get("call_id"), item.get("output"))
            messages.append({"role": "tool", "parts": [result]})
        elif kind == "reasoning":
            summary = [s.get("text") for s in sequence(item.get("summary")) if is_mapping(s)]
            text_ = "\n".join(str(s) for s in summary if s)
            messages.append({"role": "assistant", "parts": [reasoning_part(text_)]})
        elif "role" in item:
            role = str(item.get("role"))
            if role in _SYSTEM_ROLES:
                system.extend(_parts(item.get("content")))
            else:
                messages.append({"role": role, "parts": _parts(item.get("content"))})
    tools = kwargs.get("tools")
    return new_content((system, messages, _function_tools(tools, nested=False) if tools else []))
