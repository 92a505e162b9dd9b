"""What the span of an instrumented call records of the SDK's response, read off its fields.

The provider parsers (``moxtrace.session.providers``) turn a response into a
``ParsedResponse``: validated content blocks and token usage, for sessions and
``log_telemetry_event``. The span of an instrumented call needs less, on every call: the
model and id, the stop reason, the token counts and the output as GenAI parts. ``read_reply``
reads those straight off the attributes of the object the SDK returned, the way the
parser reads it (the same fields, defaults and mappings; ``STOP_REASONS``, ``merge_text``
and ``parse_arguments`` are the parsers' own), for a fraction of the parse, most of which
was building and validating the pydantic models. Whatever it does not expect (a dict, a
content list instead of a string, a field of another type than the parser's models take)
makes it answer None, and the call goes to the parser. Streams go to the parser as well,
through their accumulators. tests/unit/instrumentation/test_reply.py holds both to the
same span attributes on each provider's response shapes.
"""

from __future__ import annotations

import functools
from enum import Enum
from typing import Any, NamedTuple

from pydantic import BaseModel

from moxtrace.session._wire import as_int, parse_arguments
from moxtrace.session.providers import anthropic, google, openai_chat, openai_responses
from moxtrace.types.content import Provider
from moxtrace.types.telemetry import ParsedResponse, StopReason

__all__ = [
    "Reply",
    "Usage",
    "chat_reply",
    "google_part",
    "google_reply",
    "is_model",
    "new_reply",
    "new_usage",
    "read_reply",
    "timed",
]


class Usage(NamedTuple):
    """Token counts, as ``TokenUsage`` holds them."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


Output = tuple[list[dict[str, Any]], int]
"""A response's output as GenAI parts, and its number of tool calls."""


class Reply(NamedTuple):
    """The fields of a response ``llm_call_attributes`` maps, and its output as GenAI parts
    with its number of tool calls."""

    model: str | None
    response_id: str | None
    stop_reason: StopReason | None
    raw_stop_reason: str | None
    usage: Usage
    output: Output
    time_to_first_chunk_ms: float | None = None


_MODEL_CLASSES: dict[type, bool] = {}


def is_model(value: Any) -> bool:
    """Whether ``value``'s type is a pydantic ``BaseModel``, remembered by type: pydantic's
    metaclass is an ABC, whose check runs in Python, on every response and chunk. By
    ``type()``, not ``__class__`` (which goes through a model's ``__getattr__`` hook); an
    object that only claims a model's class (a proxy) is the parser's to read."""
    kind = type(value)
    known = _MODEL_CLASSES.get(kind)
    if known is None:
        if len(_MODEL_CLASSES) > 1024:  # bounded: classes made on the fly come and go
            _MODEL_CLASSES.clear()
        known = _MODEL_CLASSES[kind] = issubclass(kind, BaseModel)
    return known


OPENAI_CHAT = Provider.OPENAI_CHAT
OPENAI_RESPONSES = Provider.OPENAI_RESPONSES
ANTHROPIC = Provider.ANTHROPIC
GOOGLE_GEMINI = Provider.GOOGLE_GEMINI
GOOGLE_VERTEX = Provider.GOOGLE_VERTEX
_STOP = StopReason.STOP
_TOOL_CALL = StopReason.TOOL_CALL

# ``Usage`` / ``Reply`` from a tuple of all their fields, without the NamedTuple's Python
# ``__new__`` (one of each per call).
new_usage = functools.partial(tuple.__new__, Usage)
new_reply = functools.partial(tuple.__new__, Reply)


_TEXT_CLASSES = frozenset((str, type(None)))  # what _text lets through


class _Unread(Exception):
    """A response this module does not read: the parser does."""


def timed(parsed: Reply | ParsedResponse, waited: float) -> Reply | ParsedResponse:
    """``parsed`` with ``waited`` as its time to the first chunk (ms)."""
    if parsed.__class__ is Reply:
        return new_reply((*parsed[:-1], waited))  # not _replace: Python-level
    parsed.time_to_first_chunk_ms = waited  # type: ignore[misc]
    return parsed


def read_reply(response: Any, provider: Provider) -> Reply | None:
    """The ``Reply`` of an SDK response object, or None to leave it to the parser."""
    if not is_model(response):
        return None
    try:
        # Compared by identity with module constants: reading an enum member off its
        # class is a Python call.
        if provider is OPENAI_CHAT:
            return _openai_chat(response)
        if provider is ANTHROPIC:
            return _anthropic(response)
        if provider is OPENAI_RESPONSES:
            return _openai_responses(response)
        if provider is GOOGLE_GEMINI or provider is GOOGLE_VERTEX:
            return _google(response)
    except Exception:  # _Unread, or a shape the attribute reads did not expect
        pass
    return None


def _text(value: Any) -> str | None:
    """A field the parser's models take as ``str | None``; anything else (a str enum
    too) is the parser's to judge."""
    if value is None or value.__class__ is str:
        return value
    raise _Unread


def _texts(first: Any, second: Any, third: Any) -> None:
    """``_text``'s check of three fields, in one call."""
    text = _TEXT_CLASSES
    if first.__class__ not in text or second.__class__ not in text or third.__class__ not in text:
        raise _Unread


def _name(value: Any) -> str:
    """A field the parser reads as ``value or ""`` into a ``str`` field."""
    return _text(value) or ""


def _field(model: Any, name: str, default: Any = None) -> Any:
    """``model``'s field or pydantic extra ``name``, ``default`` if neither (as the parser's
    ``Fields`` view reads it; ``getattr`` with a default costs an exception when missing)."""
    value = model.__dict__.get(name, _Unread)
    if value is _Unread:
        extra = model.__pydantic_extra__
        return extra.get(name, default) if extra else default
    return value


def _count(holder: Any, name: str) -> int | None:
    if holder is None:
        return None
    value = holder.__dict__.get(name)
    if value.__class__ is int:
        return value
    if value is None:  # unset, or not a field: perhaps an extra
        extra = holder.__pydantic_extra__
        if not extra:
            return None
        value = extra.get(name)
    return as_int(value)


_ANTHROPIC_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
_GOOGLE_COUNTS = (
    "prompt_token_count",
    "candidates_token_count",
    "thoughts_token_count",
    "cached_content_token_count",
)
_INT_CLASSES = frozenset((int,))
_COUNT_CLASSES = frozenset((int, type(None)))  # what _count reads as it is (without extras)


def _counts(holder: Any, names: tuple[str, ...]) -> tuple[int | None, ...]:
    """``_count`` of each of ``names``; for the common holder (its fields ints, or unset
    without extras) in this one call, not a call a count."""
    if holder is None:
        return (None,) * len(names)
    values = holder.__dict__
    counts = tuple(map(values.get, names))
    kinds = set(map(type, counts))
    if kinds <= _INT_CLASSES or (kinds <= _COUNT_CLASSES and not holder.__pydantic_extra__):
        return counts
    return tuple(_count(holder, name) for name in names)


def _tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    if arguments is not None and is_model(arguments):
        raise _Unread
    return {
        "type": "tool_call",
        "id": _name(call_id),
        "name": _name(name),
        "arguments": parse_arguments(arguments),
    }


def _text_part(text: Any) -> dict[str, Any]:
    return {"type": "text", "content": _name(text)}


def _reasoning_part(text: Any) -> dict[str, Any]:
    return {"type": "reasoning", "content": _name(text)}


def _openai_chat(response: Any) -> Reply:
    # Fields read off the models' __dict__: each attribute of a pydantic model goes through
    # its __getattr__ hook.
    head = response.__dict__
    choices = head["choices"]
    choice = choices[0].__dict__ if choices else None
    message = choice["message"] if choice is not None else None
    parts: list[dict[str, Any]] = []
    calls = 0
    if message is not None:
        # Not in OpenAI's API; OpenAI-compatible servers (vLLM, DeepSeek) send it.
        fields = message.__dict__
        reasoning = fields.get("reasoning_content") or fields.get("reasoning")
        extra = message.__pydantic_extra__
        if not reasoning and extra:
            reasoning = extra.get("reasoning_content") or extra.get("reasoning")
        if reasoning and isinstance(reasoning, str):
            parts.append(_reasoning_part(reasoning))
        content = fields.get("content")
        if isinstance(content, str):
            if content:
                parts.append({"type": "text", "content": content})
        elif content is not None:
            raise _Unread
        refusal = fields["refusal"]
        if refusal:
            parts.append(_text_part(refusal))
        for call in fields["tool_calls"] or ():
            function = _field(call, "function") or _field(call, "custom")
            if function is None:
                parts.append(_tool_call(call.id, None, None))
            else:
                arguments = _field(function, "arguments", _Unread)
                if arguments is _Unread:
                    arguments = _field(function, "input")
                parts.append(_tool_call(call.id, function.name, arguments))
            calls += 1
        legacy = (
            fields["function_call"]
            if "function_call" in fields
            else extra and extra.get("function_call")
        )
        if legacy:
            parts.append(_tool_call(None, legacy.name, legacy.arguments))
            calls += 1
    return chat_reply(
        head["model"],
        head["id"],
        choice["finish_reason"] if choice is not None else None,
        head["usage"],
        (parts, calls),
        None,
    )


_CHAT_USAGE = (
    "prompt_tokens",
    "completion_tokens",
    "prompt_tokens_details",
    "completion_tokens_details",
)
_RESPONSES_USAGE = (
    "input_tokens",
    "output_tokens",
    "input_tokens_details",
    "output_tokens_details",
)
_NO_USAGE = Usage()


def _openai_usage(usage: Any, names: tuple[str, str, str, str]) -> Usage:
    """An OpenAI usage (Chat's or Responses' field ``names``: input and output counts and
    their details), as ``_count`` and ``_field`` read it; the common one (int counts, no
    extras) off the models' __dict__ in this one call, not a call a count."""
    if usage is None:
        return _NO_USAGE
    values = usage.__dict__
    inputs, outputs, input_details, output_details = names
    input_tokens = values.get(inputs)
    output_tokens = values.get(outputs)
    read_in = values.get(input_details)
    read_out = values.get(output_details)
    if (
        input_tokens.__class__ is not int
        or output_tokens.__class__ is not int
        or usage.__pydantic_extra__
    ):
        input_tokens = _count(usage, inputs)
        output_tokens = _count(usage, outputs)
        read_in = _field(usage, input_details)
        read_out = _field(usage, output_details)
    reasoning = cached = cache_write = None
    if read_out is not None:
        reasoning = read_out.__dict__.get("reasoning_tokens")
        if reasoning.__class__ is not int and (
            reasoning is not None or read_out.__pydantic_extra__
        ):
            reasoning = _count(read_out, "reasoning_tokens")
    if read_in is not None:
        details = read_in.__dict__
        cached = details.get("cached_tokens")
        cache_write = details.get("cache_write_tokens")
        if (
            cached.__class__ not in _COUNT_CLASSES
            or cache_write.__class__ not in _COUNT_CLASSES
            or ((cached is None or cache_write is None) and read_in.__pydantic_extra__)
        ):
            # not an int, or unset: perhaps an extra
            cached = _count(read_in, "cached_tokens")
            cache_write = _count(read_in, "cache_write_tokens")
    return new_usage((input_tokens, output_tokens, reasoning, cached, cache_write))


def chat_reply(
    model: Any, response_id: Any, finish: Any, usage: Any, output: Output, waited: float | None
) -> Reply:
    """The ``Reply`` of a chat completion (or of its chunks) with these fields and
    ``output`` (its GenAI parts, its number of tool calls); ``waited``: a stream's time to
    its first chunk (ms)."""
    _texts(model, response_id, finish)
    return new_reply(
        (
            model,
            response_id,
            openai_chat.STOP_REASONS.get(finish) if finish else None,
            finish,
            _openai_usage(usage, _CHAT_USAGE),
            output,
            waited,
        )
    )


def _openai_responses(response: Any) -> Reply:
    head = response.__dict__
    parts: list[dict[str, Any]] = []
    calls = 0
    for item in head["output"] or ():
        fields = item.__dict__
        kind = fields["type"]
        if kind == "message":
            for part in fields["content"] or ():
                values = part.__dict__
                part_kind = values["type"]
                if part_kind == "output_text":
                    text = values["text"]
                    parts.append(
                        {"type": "text", "content": text}
                        if text.__class__ is str
                        else _text_part(text)
                    )
                elif part_kind == "refusal":
                    parts.append(_text_part(values["refusal"]))
        elif kind in ("function_call", "custom_tool_call"):
            arguments = item.arguments if kind == "function_call" else item.input
            parts.append(_tool_call(item.call_id or item.id, item.name, arguments))
            calls += 1
        elif kind == "reasoning":
            _text(item.id)
            summary = [_name(s.text) for s in item.summary or ()]
            if any(summary):
                text = "\n".join(summary)
            else:
                text = "".join(_name(c.text) for c in _field(item, "content") or ())
            parts.append(_reasoning_part(text))
    model, response_id, status = head["model"], head["id"], head["status"]
    _texts(model, response_id, status)
    details = head["incomplete_details"]
    stop, raw_stop = openai_responses.stop_reason(
        status, _text(details.reason) if details else None, calls > 0
    )
    return new_reply(
        (
            model,
            response_id,
            stop,
            raw_stop,
            _openai_usage(head["usage"], _RESPONSES_USAGE),
            (parts, calls),
            None,
        )
    )


def _anthropic(response: Any) -> Reply:
    head = response.__dict__
    parts: list[dict[str, Any]] = []
    calls = 0
    for item in head["content"] or ():
        fields = item.__dict__
        kind = fields["type"]
        if kind == "text":
            text = fields["text"]
            parts.append(
                {"type": "text", "content": text} if text.__class__ is str else _text_part(text)
            )
        elif kind in ("tool_use", "server_tool_use"):
            parts.append(_tool_call(item.id, item.name, item.input))
            calls += 1
        elif kind == "thinking":
            _text(item.signature)
            parts.append(_reasoning_part(item.thinking))
        elif kind == "redacted_thinking":
            _text(item.data)
            parts.append(_reasoning_part(""))
    usage = head["usage"]
    input_tokens, output_tokens, cache_read, cache_creation = _counts(usage, _ANTHROPIC_COUNTS)
    if input_tokens is not None:  # all input, cached or not, as the parser counts it
        input_tokens += (cache_read or 0) + (cache_creation or 0)
    model, response_id, raw_stop = head["model"], head["id"], head["stop_reason"]
    _texts(model, response_id, raw_stop)
    return new_reply(
        (
            model,
            response_id,
            anthropic.STOP_REASONS.get(raw_stop) if raw_stop else None,
            raw_stop,
            new_usage(
                (
                    input_tokens,
                    output_tokens,
                    _count(usage and _field(usage, "output_tokens_details"), "thinking_tokens"),
                    cache_read,
                    cache_creation,
                )
            ),
            (parts, calls),
            None,
        )
    )


def _google(response: Any) -> Reply:
    candidates = response.candidates
    candidate = candidates[0] if candidates else None
    content = candidate.content if candidate is not None else None
    parts: list[dict[str, Any]] = []
    calls = 0
    last: str | None = None
    for part in (content.parts if content is not None else None) or ():
        calls, last = google_part(parts, part, calls, last)
    return google_reply(
        response.model_version,
        response.response_id,
        candidate.finish_reason if candidate is not None else None,
        response.usage_metadata,
        (parts, calls),
        None,
    )


def google_part(
    parts: list[dict[str, Any]], part: Any, calls: int, last: str | None
) -> tuple[int, str | None]:
    """Append a ``Part``'s GenAI part to ``parts``, which hold ``calls`` tool calls and end
    with text of kind ``last`` (adjacent text, or thought, parts are one, as merge_text
    joins them): the new number of calls and kind of the last part."""
    fields = part.__dict__
    call = fields["function_call"]
    text = fields["text"]
    if call:
        # Gemini gives no call ids; numbered as the parser numbers them.
        parts.append(_tool_call(call.id or f"call_{calls}", call.name, call.args))
        return calls + 1, None
    if isinstance(text, str):
        kind = "reasoning" if fields["thought"] else "text"
        if kind == last:
            parts[-1]["content"] += text
        else:
            parts.append({"type": kind, "content": _name(text)})
        return calls, kind
    return calls, last


def google_reply(
    model: Any, response_id: Any, finish: Any, usage: Any, output: Output, waited: float | None
) -> Reply:
    """The ``Reply`` of a ``GenerateContentResponse`` (or of its chunks) with these fields
    and ``output``; ``waited``: a stream's time to its first chunk (ms)."""
    raw = finish.value if isinstance(finish, Enum) else finish
    stop = google.STOP_REASONS.get(str(raw)) if raw else None
    if stop is _STOP and output[1]:
        stop = _TOOL_CALL
    prompt_tokens, candidates_tokens, thoughts, cached = _counts(usage, _GOOGLE_COUNTS)
    output_tokens = None
    if candidates_tokens is not None or thoughts is not None:
        output_tokens = (candidates_tokens or 0) + (thoughts or 0)
    return new_reply(
        (
            _text(model),
            _text(response_id),
            stop,
            str(raw) if raw else None,
            new_usage(
                (
                    prompt_tokens,
                    output_tokens,
                    thoughts,
                    cached,
                    None,
                )
            ),
            output,
            waited,
        )
    )
