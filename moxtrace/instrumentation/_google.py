"""Google GenAI ``models.generate_content`` (and ``_stream``): what a call asked for.

``contents`` takes many shapes (a string, a part, a ``Content``, or a list of any of
them, as SDK objects or dicts); ``config`` is a ``GenerateContentConfig`` or its dict.
Both the SDK's snake_case and the REST API's camelCase keys are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moxtrace.instrumentation._request import (
    Content,
    Request,
    blob_part,
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
from moxtrace.session.providers._common import pick

__all__ = ["read_content", "read_request"]

_SEQUENCES = (list, tuple)


def _config(kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    config = plain(kwargs.get("config"))
    return config if is_mapping(config) else {}


def read_request(kwargs: Mapping[str, Any]) -> Request:
    """Model and ``config``'s ``max_output_tokens`` / ``temperature`` / ``top_p``."""
    config = kwargs.get("config")
    parameters: dict[str, Any] = {}
    if config is None:
        return new_request((text(kwargs.get("model")), parameters, False))
    as_mapping = is_mapping(config)
    for key, name in (
        ("max_tokens", "max_output_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
    ):
        raw = config.get(name) if as_mapping else getattr(config, name, None)
        value = number(raw)
        if value is not None:
            parameters[key] = value
    return new_request((text(kwargs.get("model")), parameters, False))


def _part(part: Mapping[str, Any]) -> dict[str, Any] | None:
    if isinstance(part.get("text"), str):
        return reasoning_part(part["text"]) if part.get("thought") else text_part(part["text"])
    call = pick(part, "function_call", "functionCall")
    if is_mapping(call):
        return tool_call_part(
            call.get("id") or call.get("name"), call.get("name"), call.get("args")
        )
    response = pick(part, "function_response", "functionResponse")
    if is_mapping(response):
        return tool_response_part(
            response.get("id") or response.get("name"), response.get("response")
        )
    inline = pick(part, "inline_data", "inlineData")
    if is_mapping(inline):
        mime = pick(inline, "mime_type", "mimeType")
        modality = "image" if str(mime).startswith("image/") else "document"
        return blob_part(modality, inline.get("data"), mime)
    file = pick(part, "file_data", "fileData")
    if is_mapping(file):
        mime = pick(file, "mime_type", "mimeType")
        modality = "image" if str(mime).startswith("image/") else "document"
        return uri_part(modality, str(pick(file, "file_uri", "fileUri")), mime)
    return None


def _parts(raw_parts: Any) -> list[dict[str, Any]]:
    parts = []
    for raw in sequence(raw_parts):
        part = plain(raw)
        converted = (
            text_part(part) if isinstance(part, str) else _part(part) if is_mapping(part) else None
        )
        if converted is not None:
            parts.append(converted)
    return parts


def _message(content: Mapping[str, Any]) -> dict[str, Any]:
    parts = _parts(content.get("parts"))
    role = "assistant" if content.get("role") == "model" else str(content.get("role") or "user")
    if parts and all(p["type"] == "tool_call_response" for p in parts):
        role = "tool"
    return {"role": role, "parts": parts}


def _messages(contents: Any) -> list[dict[str, Any]]:
    if isinstance(contents, str):  # the common case: one user message
        return [{"role": "user", "parts": [text_part(contents)]}]
    items = sequence(contents) if isinstance(contents, _SEQUENCES) else [contents]
    messages: list[dict[str, Any]] = []
    loose: list[Any] = []  # strings and parts outside a Content: one user message
    for raw in items:
        item = plain(raw)
        if isinstance(item, str):
            loose.append(item)
        elif is_mapping(item) and "parts" in item:
            if loose:
                messages.append(_message({"role": "user", "parts": loose}))
                loose = []
            messages.append(_message(item))
        elif is_mapping(item):
            loose.append(item)
    if loose:
        messages.append(_message({"role": "user", "parts": loose}))
    return messages


def _tools(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    for raw in sequence(config.get("tools")):
        if callable(raw) and not is_mapping(raw):  # automatic function calling
            tools.append({"type": "function", "name": getattr(raw, "__name__", "function")})
            continue
        tool = plain(raw)
        if not is_mapping(tool):
            continue
        for raw_declaration in sequence(
            pick(tool, "function_declarations", "functionDeclarations")
        ):
            declaration = plain(raw_declaration)
            if not is_mapping(declaration):
                continue
            definition: dict[str, Any] = {"type": "function", "name": declaration.get("name")}
            if declaration.get("description"):
                definition["description"] = declaration["description"]
            schema = pick(
                declaration,
                "parameters_json_schema",
                "parametersJsonSchema",
                "parameters",
            )
            if schema is not None:
                definition["parameters"] = schema
            tools.append(definition)
    return tools


def read_content(kwargs: Mapping[str, Any]) -> Content:
    """``contents``, and ``config``'s ``system_instruction`` and ``tools``."""
    config = _config(kwargs)
    system: list[dict[str, Any]] = []
    instruction = pick(config, "system_instruction", "systemInstruction")
    if instruction.__class__ is not str:
        instruction = plain(instruction)
    if isinstance(instruction, str):
        system.append(text_part(instruction))
    elif is_mapping(instruction) and "parts" in instruction:
        system.extend(_parts(instruction.get("parts")))
    elif instruction is not None:
        system.extend(
            _parts(instruction if isinstance(instruction, list | tuple) else [instruction])
        )
    return new_content((system, _messages(kwargs.get("contents")), _tools(config)))
