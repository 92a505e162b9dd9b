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


def _parameters(kwargs: Mapping[str, Any], *max_tokens: str) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
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
            _parameters(kwargs, "max_completion_tokens", "max_tokens"),
            kwargs.get("stream") is True,
        )
    )


def read_responses_request(kwargs: Mapping[str, Any]) -> Request:
    """Model, ``max_output_tokens``, ``temperature``, ``top_p``."""
    return new_request(
        (
            text(kwargs.get("model")),
            _parameters(kwargs, "max_output_tokens"),
            kwargs.get("stream") is True,
        )
    )


def _parts(content: Any) -> list[dict[str, Any]]:
    """A message's content (a string or a list of parts) as GenAI parts."""
    if isinstance(content, str):
        return [text_part(content)]
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
        message = plain(raw)
        if not is_mapping(message):
            continue
        role = str(message.get("role") or "user")
        if role in _SYSTEM_ROLES:
            system.extend(_parts(message.get("content")))
        elif role == "tool":
            response = tool_response_part(message.get("tool_call_id"), message.get("content"))
            messages.append({"role": "tool", "parts": [response]})
        else:
            parts = _parts(message.get("content"))
            for raw_call in sequence(message.get("tool_calls")):
                call = plain(raw_call)
                if is_mapping(call):
                    function = call.get("function") or {}
                    parts.append(
                        tool_call_part(
                            call.get("id"), function.get("name"), function.get("arguments")
                        )
                    )
            messages.append({"role": role, "parts": parts})
    return new_content((system, messages, _function_tools(kwargs.get("tools"), nested=True)))


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
    return new_content((system, messages, _function_tools(kwargs.get("tools"), nested=False)))
