"""Mapping an ``LLMEvent`` to GenAI span attributes.

Content attributes (``gen_ai.input.messages``, ``gen_ai.output.messages``,
``gen_ai.system_instructions``, ``gen_ai.tool.definitions``) are JSON strings in the
GenAI conventions' shapes and are left out when the content policy is ``NONE``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol, cast

import orjson
from opentelemetry.util.types import AttributeValue

from moxtrace.tracing import semconv
from moxtrace.tracing.attributes import to_attribute_value
from moxtrace.tracing.content import ContentCapture
from moxtrace.tracing.semconv import (
    ERROR_TYPE,
    OPERATION_CHAT,
    PROVIDER_NAMES,
)
from moxtrace.tracing.semconv import GEN_AI_INPUT_MESSAGES as INPUT_MESSAGES
from moxtrace.tracing.semconv import GEN_AI_OPERATION_NAME as OPERATION_NAME
from moxtrace.tracing.semconv import GEN_AI_OUTPUT_MESSAGES as OUTPUT_MESSAGES
from moxtrace.tracing.semconv import GEN_AI_PROVIDER_NAME as PROVIDER_NAME
from moxtrace.tracing.semconv import GEN_AI_REQUEST_MODEL as REQUEST_MODEL
from moxtrace.tracing.semconv import GEN_AI_RESPONSE_FINISH_REASONS as FINISH_REASONS
from moxtrace.tracing.semconv import GEN_AI_RESPONSE_ID as RESPONSE_ID
from moxtrace.tracing.semconv import GEN_AI_RESPONSE_MODEL as RESPONSE_MODEL
from moxtrace.tracing.semconv import GEN_AI_SYSTEM_INSTRUCTIONS as SYSTEM_INSTRUCTIONS
from moxtrace.tracing.semconv import GEN_AI_TOOL_DEFINITIONS as TOOL_DEFINITIONS
from moxtrace.tracing.semconv import (
    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS as CACHE_CREATION_TOKENS,
)
from moxtrace.tracing.semconv import GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS as CACHE_READ_TOKENS
from moxtrace.tracing.semconv import GEN_AI_USAGE_INPUT_TOKENS as INPUT_TOKENS
from moxtrace.tracing.semconv import GEN_AI_USAGE_OUTPUT_TOKENS as OUTPUT_TOKENS
from moxtrace.tracing.semconv import GEN_AI_USAGE_REASONING_OUTPUT_TOKENS as REASONING_TOKENS
from moxtrace.tracing.semconv import MOXN_LLM_STOP_REASON as RAW_STOP_REASON
from moxtrace.tracing.semconv import MOXN_LLM_TIME_TO_FIRST_CHUNK_MS as TIME_TO_FIRST_CHUNK
from moxtrace.tracing.semconv import MOXN_LLM_TOOL_CALL_COUNT as TOOL_CALL_COUNT
from moxtrace.tracing.semconv import MOXN_TRUNCATED as TRUNCATED
from moxtrace.types.blocks import ReasoningContent, TextContent, ThinkingContent, ToolCall
from moxtrace.types.content import Provider
from moxtrace.types.telemetry import LLMEvent, ParsedResponse, StopReason

__all__ = [
    "ResponseFields",
    "UsageFields",
    "llm_call_attributes",
    "llm_event_attributes",
    "output_messages",
]

_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def _dumps(value: Any) -> str:
    # orjson: content JSON is built on every LLM event, and the stdlib encoder costs
    # more than the rest of the event put together.
    try:
        return orjson.dumps(value, default=str, option=_JSON_OPTIONS).decode()
    except TypeError:  # what orjson cannot encode (integers over 64 bits, ...)
        return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)


_CUT = "…[truncated]"
_MIN_KEPT = 64


def _string_leaves(node: Any, out: list[tuple[Any, Any, int]]) -> None:
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        if isinstance(value, str):
            out.append((node, key, len(value)))
        elif isinstance(value, dict | list):
            _string_leaves(value, out)


def fit_json(value: Any, max_length: int) -> tuple[str, bool]:
    """``value`` as JSON of at most ``max_length`` (>= 32) characters, and whether it was cut.

    Content is cut where it is long, not at the end of the document: the longest
    strings are shortened first (marked ``…[truncated]``), so the result stays valid
    JSON in the same shape, readable by every backend. Only if that is not enough are
    trailing list items dropped, and as a last resort the JSON text itself becomes a
    (valid) JSON string of its beginning.
    """
    if max_length < 32:
        raise ValueError("fit_json needs max_length >= 32")
    text = _dumps(value)
    if len(text) <= max_length:
        return text, False
    data = json.loads(text)
    for _ in range(64):
        leaves: list[tuple[Any, Any, int]] = []
        if isinstance(data, dict | list):
            _string_leaves(data, leaves)
        leaves = [leaf for leaf in leaves if leaf[2] > _MIN_KEPT + len(_CUT)]
        if not leaves:
            break
        node, key, length = max(leaves, key=lambda leaf: leaf[2])
        excess = len(text) - max_length
        keep = max(_MIN_KEPT, length - excess - len(_CUT) - 8)
        node[key] = node[key][:keep] + _CUT
        text = _dumps(data)
        if len(text) <= max_length:
            return text, True
    while isinstance(data, list) and len(data) > 1 and len(text) > max_length:
        data.pop()
        text = _dumps(data)
    if len(text) <= max_length:
        return text, True
    keep = max_length
    while keep > 0:
        candidate = _dumps(text[:keep] + _CUT)
        if len(candidate) <= max_length:
            return candidate, True
        keep -= max(len(candidate) - max_length, 1)
    return _dumps(_CUT), True


class UsageFields(Protocol):
    """Token counts as ``TokenUsage`` holds them."""

    @property
    def input_tokens(self) -> int | None: ...
    @property
    def output_tokens(self) -> int | None: ...
    @property
    def reasoning_tokens(self) -> int | None: ...
    @property
    def cache_read_input_tokens(self) -> int | None: ...
    @property
    def cache_creation_input_tokens(self) -> int | None: ...


class ResponseFields(Protocol):
    """What ``llm_call_attributes`` reads of a response besides its output: a
    ``ParsedResponse``, or a lighter object with the same fields (the SDK
    instrumentation's ``Reply``)."""

    @property
    def model(self) -> str | None: ...
    @property
    def response_id(self) -> str | None: ...
    @property
    def stop_reason(self) -> StopReason | None: ...
    @property
    def raw_stop_reason(self) -> str | None: ...
    @property
    def usage(self) -> UsageFields: ...
    @property
    def time_to_first_chunk_ms(self) -> float | None: ...


def _output(response: ParsedResponse) -> tuple[list[dict[str, Any]], int]:
    """The response as GenAI ``gen_ai.output.messages``, and its number of tool calls."""
    parts, tool_calls = _parts(response)
    return _messages(parts, response.stop_reason), tool_calls


def _messages(parts: list[dict[str, Any]], stop_reason: StopReason | None) -> list[dict[str, Any]]:
    message: dict[str, Any] = {"role": "assistant", "parts": parts}
    if stop_reason is not None:
        message["finish_reason"] = _FINISH_REASONS[stop_reason][0]
    return [message]


def _parts(response: ParsedResponse) -> tuple[list[dict[str, Any]], int]:
    parts: list[dict[str, Any]] = []
    tool_calls = 0
    for block in response.content_blocks:
        if isinstance(block, TextContent):
            parts.append({"type": "text", "content": block.text})
        elif isinstance(block, ToolCall):
            tool_calls += 1
            parts.append(
                {
                    "type": "tool_call",
                    "id": block.tool_call_id,
                    "name": block.tool_name,
                    "arguments": block.input,
                }
            )
        elif isinstance(block, _REASONING):
            parts.append({"type": "reasoning", "content": block.text})
    return parts, tool_calls


def output_messages(response: ParsedResponse) -> list[dict[str, Any]]:
    """The response as GenAI ``gen_ai.output.messages`` (one assistant message)."""
    return _output(response)[0]


def llm_event_attributes(
    event: LLMEvent, capture: ContentCapture, max_length: int
) -> tuple[dict[str, AttributeValue], bool]:
    """The span attributes recording ``event``, and whether any value was cut to size."""
    return llm_call_attributes(  # positional: no keyword binding on every LLM event
        event.provider,
        event.response,
        capture,
        max_length,
        event.request_model,
        event.request_parameters,
        event.input_messages,
        event.system_instructions,
        event.tool_definitions,
        event.error,
        event.attributes,
    )


def llm_call_attributes(
    provider: Provider,
    response: ParsedResponse | ResponseFields,
    capture: ContentCapture,
    max_length: int,
    request_model: str | None = None,
    request_parameters: Mapping[str, Any] | None = None,
    input_messages: list[dict[str, Any]] | None = None,
    system_instructions: list[dict[str, Any]] | None = None,
    tool_definitions: list[dict[str, Any]] | None = None,
    error: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    output: tuple[list[dict[str, Any]], int] | None = None,
) -> tuple[dict[str, AttributeValue], bool]:
    """``llm_event_attributes`` from the fields of an ``LLMEvent``, without building one
    (the provider SDK instrumentation maps every call with it).

    ``output``: the response's output as GenAI parts and its number of tool calls, when
    the caller read them already (then ``response`` need not be a ``ParsedResponse``);
    else they come from ``response.content_blocks``.
    """
    # Every LLM call passes here: plain statements, no tuples of pairs to loop over.
    usage = response.usage
    attrs: dict[str, AttributeValue] = {
        OPERATION_NAME: OPERATION_CHAT,
        PROVIDER_NAME: PROVIDER_NAMES[provider],
    }
    request_model = request_model or response.model
    if request_model:
        attrs[REQUEST_MODEL] = request_model
    if response.model:
        attrs[RESPONSE_MODEL] = response.model
    if response.response_id:
        attrs[RESPONSE_ID] = response.response_id
    stop_reason = response.stop_reason
    if stop_reason is not None:
        attrs[FINISH_REASONS] = _FINISH_REASONS[stop_reason]
    if response.raw_stop_reason:
        attrs[RAW_STOP_REASON] = response.raw_stop_reason
    value: Any = usage.input_tokens
    if value is not None:
        attrs[INPUT_TOKENS] = value
    value = usage.output_tokens
    if value is not None:
        attrs[OUTPUT_TOKENS] = value
    value = usage.reasoning_tokens
    if value is not None:
        attrs[REASONING_TOKENS] = value
    value = usage.cache_read_input_tokens
    if value is not None:
        attrs[CACHE_READ_TOKENS] = value
    value = usage.cache_creation_input_tokens
    if value is not None:
        attrs[CACHE_CREATION_TOKENS] = value
    value = response.time_to_first_chunk_ms
    if value is not None:
        attrs[TIME_TO_FIRST_CHUNK] = value
    if request_parameters:
        for key, name in _REQUEST_PARAMETERS:
            value = request_parameters.get(key)
            if value is not None:
                attrs[name] = value
    if error:
        attrs[ERROR_TYPE] = error
    if attributes:
        for key, value in attributes.items():
            if value is not None:
                attrs[key] = to_attribute_value(value)
    if output is None:
        output = _parts(cast(ParsedResponse, response))
    attrs[TOOL_CALL_COUNT] = output[1]

    truncated = False
    if capture is not _NO_CONTENT:
        if input_messages:
            truncated |= _put_json(attrs, INPUT_MESSAGES, input_messages, max_length)
        messages = _messages(output[0], stop_reason)
        truncated |= _put_json(attrs, OUTPUT_MESSAGES, messages, max_length)
        if system_instructions:
            truncated |= _put_json(attrs, SYSTEM_INSTRUCTIONS, system_instructions, max_length)
        if tool_definitions:
            truncated |= _put_json(attrs, TOOL_DEFINITIONS, tool_definitions, max_length)
    if truncated:
        attrs[TRUNCATED] = True
    return attrs, truncated


def _put_json(attrs: dict[str, AttributeValue], name: str, content: Any, max_length: int) -> bool:
    """Set ``attrs[name]`` to ``content`` as JSON cut to ``max_length``; whether it was cut."""
    text = _dumps(content)
    if len(text) <= max_length:
        attrs[name] = text
        return False
    attrs[name] = fit_json(content, max_length)[0]
    return True


_REASONING = (ThinkingContent, ReasoningContent)
_NO_CONTENT = ContentCapture.NONE  # an enum member read off its class is a Python call
# ``StopReason.X.value`` is a descriptor call; the attribute value, ready made, is a lookup.
_FINISH_REASONS: dict[StopReason, tuple[str, ...]] = {r: (r.value,) for r in StopReason}
_REQUEST_PARAMETERS = (
    ("max_tokens", semconv.GEN_AI_REQUEST_MAX_TOKENS),
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", semconv.GEN_AI_REQUEST_TOP_P),
)
