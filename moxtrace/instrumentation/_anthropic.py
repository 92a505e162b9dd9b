"""Anthropic ``messages.create``: what a call asked for."""

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

__all__ = ["read_content", "read_request"]


def read_request(kwargs: Mapping[str, Any]) -> Request:
    """Model, ``max_tokens`` / ``temperature`` / ``top_p``, and ``stream=True``."""
    parameters: dict[str, Any] = {}
    for name in ("max_tokens", "temperature", "top_p"):
        value = number(kwargs.get(name))
        if value is not None:
            parameters[name] = value
    return new_request((text(kwargs.get("model")), parameters, kwargs.get("stream") is True))


def _source(block: Mapping[str, Any], modality: str) -> dict[str, Any]:
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "url":
        return uri_part(modality, str(source.get("url")))
    if kind == "text":
        return text_part(str(source.get("data") or ""))
    return blob_part(modality, source.get("data"), source.get("media_type"))


def _result_text(content: Any) -> Any:
    if isinstance(content, list):
        texts = [b.get("text") for b in content if is_mapping(b) and "text" in b]
        if len(texts) == len(content):
            return "".join(str(t) for t in texts)
        return [plain(b) for b in content]
    return content


def _message(message: Any) -> list[dict[str, Any]]:
    message = plain(message)
    if not is_mapping(message):
        return []
    role = str(message.get("role") or "user")
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": role, "parts": [text_part(content)]}]
    parts: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for raw in sequence(content):
        block = plain(raw)
        if not is_mapping(block):
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append(text_part(str(block.get("text") or "")))
        elif kind == "image":
            parts.append(_source(block, "image"))
        elif kind == "document":
            parts.append(_source(block, "document"))
        elif kind in ("tool_use", "server_tool_use"):
            parts.append(tool_call_part(block.get("id"), block.get("name"), block.get("input")))
        elif kind == "tool_result":
            results.append(
                tool_response_part(block.get("tool_use_id"), _result_text(block.get("content")))
            )
        elif kind == "thinking":
            parts.append(reasoning_part(str(block.get("thinking") or "")))
    out: list[dict[str, Any]] = []
    if results:
        out.append({"role": "tool", "parts": results})
    if parts or not results:
        out.append({"role": role, "parts": parts})
    return out


def read_content(kwargs: Mapping[str, Any]) -> Content:
    """``system``, ``messages`` and ``tools`` in the GenAI shapes."""
    system: list[dict[str, Any]] = []
    raw_system = kwargs.get("system")
    if isinstance(raw_system, str):
        system.append(text_part(raw_system))
    else:
        for block in sequence(raw_system):
            block = plain(block)
            if is_mapping(block) and block.get("type") == "text":
                system.append(text_part(str(block.get("text") or "")))
    messages: list[dict[str, Any]] = []
    for message in sequence(kwargs.get("messages")):
        messages.extend(_message(message))
    tools: list[dict[str, Any]] = []
    for raw in sequence(kwargs.get("tools")):
        tool = plain(raw)
        if not is_mapping(tool):
            continue
        if "input_schema" in tool:
            definition: dict[str, Any] = {"type": "function", "name": tool.get("name")}
            if tool.get("description"):
                definition["description"] = tool["description"]
            definition["parameters"] = tool.get("input_schema")
            tools.append(definition)
        else:  # server tools (web search, code execution, ...)
            tools.append({"type": str(tool.get("type") or "tool"), "name": tool.get("name")})
    return new_content((system, messages, tools))
