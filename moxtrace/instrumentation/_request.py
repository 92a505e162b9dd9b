"""What an SDK call asked for, read from its keyword arguments: shared shapes and helpers.

The responses are parsed by ``moxtrace.session.providers`` (one parser per provider, for
sessions and instrumentation alike). The requests are read here: the model and sampling
parameters on every call, and, when the content policy records content, the messages,
system instructions and tools in the GenAI conventions' JSON shapes (the shapes
``moxtrace.session.genai`` gives a rendered prompt).

Reading never raises into the application and never consumes what it reads: a message
list given as a generator (the SDKs accept any iterable) is left alone.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, TypeGuard

from moxtrace.session.genai import BLOB_CONTENT_LIMIT
from moxtrace.session.providers._common import parse_arguments

__all__ = [
    "Content",
    "Request",
    "blob_part",
    "is_mapping",
    "new_content",
    "new_request",
    "number",
    "plain",
    "reasoning_part",
    "sequence",
    "text",
    "text_part",
    "tool_call_part",
    "tool_response_part",
    "uri_part",
]


class Request(NamedTuple):
    """The model, the sampling parameters (``max_tokens``, ``temperature``, ``top_p``) and
    whether the call streams."""

    model: str | None
    parameters: dict[str, Any]
    stream: bool


class Content(NamedTuple):
    """GenAI ``gen_ai.system_instructions``, ``gen_ai.input.messages`` and
    ``gen_ai.tool.definitions`` of a call."""

    system: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]


EMPTY_CONTENT = Content([], [], [])

# From a tuple of all their fields, without the NamedTuples' Python-level ``__new__``
# (one of each on every call).
new_request = functools.partial(tuple.__new__, Request)
new_content = functools.partial(tuple.__new__, Content)


# Tuples, not ``int | float`` unions: isinstance against a union costs several times more,
# and these checks run on every argument of every instrumented call.
_PLAIN = (str, int, float, bool, Mapping)  # Mapping last: its check is an ABC's, in Python
_NUMBERS = (int, float)
_SEQUENCES = (list, tuple)


def plain(value: Any) -> Any:
    """``value`` as plain data: SDK objects (pydantic models) are dumped, the rest kept."""
    if type(value) is dict or value is None:  # the common case, without an ABC check
        return value
    if isinstance(value, _PLAIN):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(mode="json", exclude_none=True)
        except Exception:
            return None
    return value


def is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, a dict first: the ABC's check runs in Python."""
    return value.__class__ is dict or isinstance(value, Mapping)


def sequence(value: Any) -> Sequence[Any]:
    """``value`` if it is a list or tuple (safe to read twice), else empty."""
    return value if isinstance(value, _SEQUENCES) else ()


def number(value: Any) -> int | float | None:
    """``value`` if it is a number (not a bool, not an SDK "not given" sentinel)."""
    if isinstance(value, _NUMBERS) and value.__class__ is not bool:
        return value
    return None


def text(value: Any) -> str | None:
    """``value`` if it is a string (not a "not given" sentinel)."""
    return value if isinstance(value, str) else None


def text_part(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def reasoning_part(content: str) -> dict[str, Any]:
    return {"type": "reasoning", "content": content}


def tool_call_part(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    return {
        "type": "tool_call",
        "id": call_id if isinstance(call_id, str) else None,
        "name": name if isinstance(name, str) else "",
        "arguments": parse_arguments(arguments),
    }


def tool_response_part(call_id: Any, response: Any) -> dict[str, Any]:
    return {
        "type": "tool_call_response",
        "id": call_id if isinstance(call_id, str) else None,
        "response": plain(response),
    }


def uri_part(modality: str, uri: str, mime_type: str | None = None) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "uri", "modality": modality, "uri": uri}
    if mime_type:
        part["mime_type"] = mime_type
    return part


def blob_part(modality: str, data: Any, mime_type: str | None = None) -> dict[str, Any]:
    """Inline media: its base64 content up to ``BLOB_CONTENT_LIMIT`` bytes, else its size."""
    part: dict[str, Any] = {"type": "blob", "modality": modality}
    if mime_type:
        part["mime_type"] = mime_type
    if isinstance(data, bytes | bytearray):
        if len(data) <= BLOB_CONTENT_LIMIT:
            part["content"] = base64.b64encode(data).decode()
        else:
            part["size"] = len(data)
    elif isinstance(data, str):
        if len(data) * 3 // 4 <= BLOB_CONTENT_LIMIT:
            part["content"] = data
        else:
            part["size"] = len(data) * 3 // 4
    return part


def data_url_part(modality: str, url: str) -> dict[str, Any]:
    """A ``data:`` URL as a blob part, any other URL as a uri part."""
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        mime_type = header[5:].split(";")[0] or None
        return blob_part(modality, data, mime_type)
    return uri_part(modality, url)
