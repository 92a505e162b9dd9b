"""``genai_normalize``: LLM spans from other instrumentations, in the current GenAI conventions.

Spans recorded by OpenInference (Arize: ``openinference-instrumentation-*``), OpenLLMetry
(Traceloop: ``opentelemetry-instrumentation-openai`` and friends, before they adopted the
current conventions) and older versions of the OpenTelemetry GenAI conventions describe
an LLM call with other attribute names. This plugin adds the current ones, so that such
a call shows up as an LLM call (moxtrace makes an ``llm_call`` event of every span with
``gen_ai.operation.name``), with its model, usage and messages, and gets a cost:

====================================== ==================================================
current attribute                      from
====================================== ==================================================
``gen_ai.operation.name``              ``openinference.span.kind`` (LLM: ``chat``,
                                       EMBEDDING: ``embeddings``); ``llm.request.type``;
                                       ``chat`` for a span with ``gen_ai.system``
``gen_ai.provider.name``               ``gen_ai.system``, ``llm.provider``/``llm.system``
                                       (mapped to the well-known values: ``openai``,
                                       ``anthropic``, ``gcp.vertex_ai``, ``aws.bedrock``…)
``gen_ai.request.model``               ``llm.request.model_name``, the ``model`` of
                                       ``llm.invocation_parameters``, ``llm.model_name``
``gen_ai.response.model``              ``llm.response.model_name``, ``llm.model_name``
``gen_ai.response.id``                 the ``id`` in OpenInference's ``output.value``
``gen_ai.response.finish_reasons``     ``llm.finish_reason``, ``gen_ai.completion.N.finish_reason``
                                       (as ``stop``, ``length``, ``tool_call``,
                                       ``content_filter``, ``error``)
``gen_ai.usage.input_tokens``          ``llm.token_count.prompt``, ``gen_ai.usage.prompt_tokens``
                                       (or total minus output)
``gen_ai.usage.output_tokens``         ``llm.token_count.completion``,
                                       ``gen_ai.usage.completion_tokens``
``gen_ai.usage.cache_read…``,          ``llm.token_count.prompt_details.cache_read`` /
``gen_ai.usage.cache_creation…``       ``cache_write``, ``gen_ai.usage.cache_read_input_tokens``…
``gen_ai.usage.reasoning.output_tokens`` ``llm.token_count.completion_details.reasoning``,
                                       ``gen_ai.usage.reasoning_tokens``,
                                       ``llm.usage.reasoning_tokens``
``gen_ai.request.max_tokens`` …        ``llm.invocation_parameters`` (max_tokens,
                                       temperature, top_p, top_k, stop, seed, penalties)
``gen_ai.input.messages``              ``llm.input_messages.N.message.*``, ``llm.prompts.N``,
                                       ``gen_ai.prompt.N.*``, ``gen_ai.prompt`` (JSON), the
                                       ``gen_ai.content.prompt`` and ``gen_ai.<role>.message``
                                       span events
``gen_ai.output.messages``             ``llm.output_messages.N.message.*``,
                                       ``gen_ai.completion.N.*``, ``gen_ai.completion``
                                       (JSON), ``gen_ai.content.completion`` and
                                       ``gen_ai.choice`` span events
``gen_ai.tool.definitions``            ``llm.tools.N.tool.json_schema``,
                                       ``llm.request.functions.N.*``
====================================== ==================================================

Messages are written in the current JSON shapes: ``{"role", "parts": [...]}`` with
``text``, ``tool_call`` (arguments parsed from JSON when they are JSON),
``tool_call_response``, ``reasoning``, ``uri`` and ``blob`` parts; output messages carry
their ``finish_reason``. Content longer than ``max_content_length`` is cut the way
moxtrace cuts its own (valid JSON, ``moxn.truncated``).

Attributes a span already has in the current conventions are never overwritten, so the
plugin is idempotent and leaves moxtrace's own spans alone. The source attributes are
kept (Phoenix reads OpenInference's) unless ``drop_source_attributes`` is set.

Options::

    drop_source_attributes: false
    content: true               # false: translate everything but the messages
    max_content_length: 131072  # characters per content attribute
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Final

from opentelemetry.sdk.trace import Event, ReadableSpan
from pydantic import BaseModel, ConfigDict, Field

from moxtrace.pipeline.config import parse_options
from moxtrace.pipeline.plugin import CollectorPlugin, replace_span
from moxtrace.tracing import semconv
from moxtrace.tracing.events import fit_json

__all__ = [
    "GenAINormalizeOptions",
    "GenAINormalizePlugin",
    "finish_reason",
    "provider_name",
]

# Source attribute names (OpenInference, OpenLLMetry, older GenAI conventions).
OI_SPAN_KIND: Final = "openinference.span.kind"
OI_MODEL_NAME: Final = "llm.model_name"
OI_REQUEST_MODEL: Final = "llm.request.model_name"
OI_RESPONSE_MODEL: Final = "llm.response.model_name"
OI_PROVIDER: Final = "llm.provider"
OI_SYSTEM: Final = "llm.system"
OI_INVOCATION_PARAMETERS: Final = "llm.invocation_parameters"
OI_FINISH_REASON: Final = "llm.finish_reason"
OI_OUTPUT_VALUE: Final = "output.value"
OI_OUTPUT_MIME_TYPE: Final = "output.mime_type"
LEGACY_SYSTEM: Final = "gen_ai.system"
LEGACY_REQUEST_TYPE: Final = "llm.request.type"
LEGACY_TOTAL_TOKENS: Final = "llm.usage.total_tokens"
LEGACY_PROMPT: Final = "gen_ai.prompt"
LEGACY_COMPLETION: Final = "gen_ai.completion"

_INPUT_MESSAGES = "llm.input_messages"
_OUTPUT_MESSAGES = "llm.output_messages"
_OI_PROMPTS = "llm.prompts"
_OI_TOOLS = "llm.tools"
_LEGACY_PROMPTS = "gen_ai.prompt"
_LEGACY_COMPLETIONS = "gen_ai.completion"
_LEGACY_FUNCTIONS = "llm.request.functions"
_INDEXED = re.compile(
    r"(llm\.input_messages|llm\.output_messages|llm\.prompts|llm\.tools|gen_ai\.prompt"
    r"|gen_ai\.completion|llm\.request\.functions)\.(\d{1,5})\.(.+)"
)
_INDEXED_PREFIXES = (
    "llm.input_messages.",
    "llm.output_messages.",
    "llm.prompts.",
    "llm.tools.",
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.request.functions.",
)
_SUB_INDEXED = re.compile(r"([a-z_.]+?)\.(\d{1,5})\.(.+)")

_USAGE: Final = (
    (
        semconv.GEN_AI_USAGE_INPUT_TOKENS,
        ("gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
    ),
    (
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
        ("gen_ai.usage.completion_tokens", "llm.token_count.completion"),
    ),
    (
        semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        (
            "gen_ai.usage.cache_read_input_tokens",
            "llm.token_count.prompt_details.cache_read",
        ),
    ),
    (
        semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
        (
            "gen_ai.usage.cache_creation_input_tokens",
            "llm.token_count.prompt_details.cache_write",
        ),
    ),
    (
        semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        (
            "gen_ai.usage.reasoning_tokens",
            "llm.usage.reasoning_tokens",
            "llm.token_count.completion_details.reasoning",
        ),
    ),
)
_TOTAL_TOKENS_SOURCES = (LEGACY_TOTAL_TOKENS, "llm.token_count.total", "gen_ai.usage.total_tokens")
_PARAMETERS: Final = (
    (
        semconv.GEN_AI_REQUEST_MAX_TOKENS,
        ("max_tokens", "max_completion_tokens", "max_output_tokens"),
    ),
    (semconv.GEN_AI_REQUEST_TEMPERATURE, ("temperature",)),
    (semconv.GEN_AI_REQUEST_TOP_P, ("top_p",)),
    ("gen_ai.request.top_k", ("top_k",)),
    ("gen_ai.request.seed", ("seed",)),
    ("gen_ai.request.frequency_penalty", ("frequency_penalty",)),
    ("gen_ai.request.presence_penalty", ("presence_penalty",)),
    ("gen_ai.request.stop_sequences", ("stop", "stop_sequences")),
)

_PROVIDERS: Final = {
    "openai": "openai",
    "anthropic": "anthropic",
    "cohere": "cohere",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "mistral_ai": "mistral_ai",
    "groq": "groq",
    "xai": "x_ai",
    "x_ai": "x_ai",
    "deepseek": "deepseek",
    "perplexity": "perplexity",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "az.ai.openai": "azure.ai.openai",
    "azure.ai.openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "azure.ai.inference": "azure.ai.inference",
    "aws": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "aws_bedrock": "aws.bedrock",
    "aws.bedrock": "aws.bedrock",
    "vertexai": "gcp.vertex_ai",
    "vertex_ai": "gcp.vertex_ai",
    "vertex ai": "gcp.vertex_ai",
    "gcp.vertex_ai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "google": "gcp.gemini",
    "gcp.gemini": "gcp.gemini",
    "google_genai": "gcp.gen_ai",
    "gcp.gen_ai": "gcp.gen_ai",
    "watsonx": "ibm.watsonx.ai",
    "ibm.watsonx.ai": "ibm.watsonx.ai",
}
_FINISH_REASONS: Final = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "eos": "stop",
    "complete": "stop",
    "completed": "stop",
    "finish_reason_stop": "stop",
    "length": "length",
    "max_tokens": "length",
    "model_length": "length",
    "model_context_window_exceeded": "length",
    "tool_calls": "tool_call",
    "tool_call": "tool_call",
    "tool_use": "tool_call",
    "function_call": "tool_call",
    "content_filter": "content_filter",
    "safety": "content_filter",
    "recitation": "content_filter",
    "blocklist": "content_filter",
    "prohibited_content": "content_filter",
    "spii": "content_filter",
    "image_safety": "content_filter",
    "refusal": "content_filter",
    "error": "error",
    "malformed_function_call": "error",
}
_ROLES: Final = {"model": "assistant", "function": "tool", "ai": "assistant", "human": "user"}
_MAX_PARSE = 4 * 1024 * 1024


def provider_name(value: str, system: str | None = None) -> str:
    """A provider or system name as the GenAI ``gen_ai.provider.name`` well-known value.

    >>> provider_name("Anthropic"), provider_name("google", "vertexai")
    ('anthropic', 'gcp.vertex_ai')
    """
    key = value.strip().lower()
    if key == "google" and system and system.strip().lower() in ("vertexai", "vertex_ai"):
        return "gcp.vertex_ai"
    return _PROVIDERS.get(key, key)


def finish_reason(value: str) -> str:
    """A provider's stop reason as a GenAI finish reason (``end_turn`` → ``stop``)."""
    key = value.strip().lower()
    return _FINISH_REASONS.get(key, key)


class GenAINormalizeOptions(BaseModel):
    """The options of ``genai_normalize`` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drop_source_attributes: bool = False
    content: bool = True
    max_content_length: int = Field(default=128 * 1024, ge=64)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _loads(value: Any) -> Any:
    """JSON text parsed, or None (not a string, too long, not JSON)."""
    if not isinstance(value, str) or len(value) > _MAX_PARSE:
        return None
    text = value.strip()
    if not text or text[0] not in '{["':
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _arguments(value: Any) -> Any:
    """Tool-call arguments: parsed if they are JSON text, else as they are."""
    if isinstance(value, str):
        parsed = _loads(value)
        return value if parsed is None else parsed
    return value


def _grouped(flat: Mapping[str, Any], prefix: str) -> dict[int, dict[str, Any]]:
    """``{N: {rest: value}}`` for the keys ``<prefix>.<N>.<rest>`` of ``flat``."""
    out: dict[int, dict[str, Any]] = {}
    dotted = prefix + "."
    for key, value in flat.items():
        if not key.startswith(dotted):
            continue
        index, _, rest = key[len(dotted) :].partition(".")
        if index.isdigit() and rest:
            out.setdefault(int(index), {})[rest] = value
    return out


def _role(value: Any, default: str) -> str:
    if not isinstance(value, str) or not value:
        return default
    role = value.strip().lower()
    return _ROLES.get(role, role)


def _media_part(url: str, modality: str = "image") -> dict[str, Any]:
    if url.startswith("data:") and ";base64," in url:
        header, _, data = url.partition(";base64,")
        return {"type": "blob", "modality": modality, "mime_type": header[5:], "content": data}
    return {"type": "uri", "modality": modality, "uri": url}


def _content_blocks(blocks: Sequence[Any]) -> list[dict[str, Any]]:
    """Provider content blocks (Anthropic, OpenAI, Gemini-like) as GenAI parts."""
    parts: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, str):
            parts.append({"type": "text", "content": block})
            continue
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind in ("text", "input_text", "output_text") or (kind is None and "text" in block):
            text = block.get("text", block.get("content"))
            if isinstance(text, str):
                parts.append({"type": "text", "content": text})
        elif kind in ("tool_use", "function_call", "server_tool_use"):
            parts.append(
                {
                    "type": "tool_call",
                    "id": block.get("id") or block.get("call_id"),
                    "name": block.get("name"),
                    "arguments": _arguments(block.get("input", block.get("arguments"))),
                }
            )
        elif kind in ("tool_result", "function_call_output"):
            response = block.get("content", block.get("output"))
            parts.append(
                {
                    "type": "tool_call_response",
                    "id": block.get("tool_use_id") or block.get("call_id"),
                    "response": response,
                }
            )
        elif kind in ("thinking", "reasoning", "redacted_thinking"):
            text = block.get("thinking", block.get("text", block.get("summary")))
            parts.append({"type": "reasoning", "content": text if isinstance(text, str) else ""})
        elif kind in ("image_url", "input_image"):
            image = block.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else image
            if isinstance(url, str):
                parts.append(_media_part(url))
        elif kind in ("image", "document"):
            source = block.get("source")
            modality = "image" if kind == "image" else "document"
            if isinstance(source, Mapping) and source.get("type") == "base64":
                parts.append(
                    {
                        "type": "blob",
                        "modality": modality,
                        "mime_type": source.get("media_type"),
                        "content": source.get("data"),
                    }
                )
            elif isinstance(source, Mapping) and isinstance(source.get("url"), str):
                parts.append({"type": "uri", "modality": modality, "uri": source["url"]})
        elif isinstance(kind, str):
            parts.append(dict(block))  # a GenAI generic part: type plus its own fields
    return parts


def _text_or_blocks(content: Any, role: str, tool_call_id: Any) -> list[dict[str, Any]]:
    """Parts for a message ``content`` that is text, JSON text of blocks, or blocks."""
    if content is None or content == "":
        return []
    if role == "tool":
        return [{"type": "tool_call_response", "id": tool_call_id, "response": content}]
    if isinstance(content, str):
        parsed = _loads(content) if content[:1] == "[" else None
        if (
            isinstance(parsed, list)
            and parsed
            and all(isinstance(b, Mapping) and "type" in b for b in parsed)
        ):
            return _content_blocks(parsed)
        return [{"type": "text", "content": content}]
    if isinstance(content, Sequence):
        return _content_blocks(content)
    return [{"type": "text", "content": str(content)}]


def _tool_calls(calls: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "type": "tool_call",
            "id": call.get("id"),
            "name": call.get("name"),
            "arguments": _arguments(call.get("arguments")),
        }
        for call in calls
        if call.get("name") is not None or call.get("id") is not None
    ]


def _chat_messages(raw: Any, default_role: str) -> list[dict[str, Any]] | None:
    """OpenAI-style ``[{"role", "content", "tool_calls"}]`` (or GenAI-shaped) messages."""
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list):
        return None
    messages: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        inner = item.get("message")
        message: Mapping[str, Any] = inner if isinstance(inner, Mapping) else item
        if "parts" in message and isinstance(message["parts"], list):  # already GenAI
            messages.append(dict(message))
            continue
        role = _role(message.get("role"), default_role)
        parts = _text_or_blocks(message.get("content"), role, message.get("tool_call_id"))
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            parts.extend(
                _tool_calls(
                    {
                        "id": call.get("id"),
                        "name": (call.get("function") or {}).get("name", call.get("name")),
                        "arguments": (call.get("function") or {}).get(
                            "arguments", call.get("arguments")
                        ),
                    }
                    for call in calls
                    if isinstance(call, Mapping)
                )
            )
        out: dict[str, Any] = {"role": role, "parts": parts}
        reason = item.get("finish_reason")
        if isinstance(reason, str) and reason:
            out["finish_reason"] = finish_reason(reason)
        messages.append(out)
    return messages


class _Translation:
    """What one span's attributes say, gathered in one pass; builds the new attributes."""

    def __init__(self, attrs: Mapping[str, Any]) -> None:
        self.attrs = attrs
        self.indexed: dict[str, dict[int, dict[str, Any]]] = {}
        self.consumed: set[str] = set()
        for key, value in attrs.items():
            if not key.startswith(_INDEXED_PREFIXES):
                continue
            match = _INDEXED.fullmatch(key)
            if match is None:
                continue
            group = self.indexed.setdefault(match[1], {})
            group.setdefault(int(match[2]), {})[match[3]] = value
            self.consumed.add(key)

    def get(self, key: str) -> Any:
        value = self.attrs.get(key)
        if value is not None:
            self.consumed.add(key)
        return value

    # -- is it an LLM call, and which -----------------------------------------------------

    def operation(self, span_name: str) -> str | None:
        kind = self.attrs.get(OI_SPAN_KIND)
        if isinstance(kind, str):
            kind = kind.upper()
            if kind == "LLM":
                has_messages = _INPUT_MESSAGES in self.indexed
                return (
                    "text_completion"
                    if _OI_PROMPTS in self.indexed and not has_messages
                    else "chat"
                )
            if kind == "EMBEDDING":
                return "embeddings"
            return None
        request_type = self.attrs.get(LEGACY_REQUEST_TYPE)
        if isinstance(request_type, str):
            request_type = request_type.lower()
            if request_type == "chat":
                return "chat"
            if request_type == "completion":
                return "chat" if "chat" in span_name.lower() else "text_completion"
            if request_type == "embedding":
                return "embeddings"
            return None
        if self.attrs.get(LEGACY_SYSTEM) is not None or _LEGACY_PROMPTS in self.indexed:
            return "chat"
        return None

    def provider(self) -> str | None:
        system = self.get(LEGACY_SYSTEM)
        if isinstance(system, str) and system:
            return provider_name(system)
        oi_provider = self.get(OI_PROVIDER)
        oi_system = self.get(OI_SYSTEM)
        if isinstance(oi_provider, str) and oi_provider:
            return provider_name(oi_provider, oi_system if isinstance(oi_system, str) else None)
        if isinstance(oi_system, str) and oi_system:
            return provider_name(oi_system)
        return None

    # -- attributes ----------------------------------------------------------------------

    def scalars(self, out: dict[str, Any]) -> None:
        """Models, usage, request parameters, response id and finish reasons."""
        params = _loads(self.get(OI_INVOCATION_PARAMETERS))
        params = params if isinstance(params, Mapping) else {}
        oi_model = self.get(OI_MODEL_NAME)
        request_model = self.get(OI_REQUEST_MODEL) or params.get("model") or oi_model
        response_model = self.get(OI_RESPONSE_MODEL) or oi_model
        if isinstance(request_model, str) and request_model:
            out[semconv.GEN_AI_REQUEST_MODEL] = request_model
        if isinstance(response_model, str) and response_model:
            out[semconv.GEN_AI_RESPONSE_MODEL] = response_model
        for target, sources in _USAGE:
            for source in sources:
                count = _int(self.get(source))
                if count is not None:
                    out[target] = count
                    break
        for source in _TOTAL_TOKENS_SOURCES[:2]:  # no current name: the parts say it all
            self.get(source)
        if (
            semconv.GEN_AI_USAGE_INPUT_TOKENS not in out
            and semconv.GEN_AI_USAGE_INPUT_TOKENS not in self.attrs
        ):
            output = out.get(
                semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
                self.attrs.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS),
            )
            for source in _TOTAL_TOKENS_SOURCES:
                total = _int(self.get(source))
                if total is not None and isinstance(output, int) and total >= output:
                    out[semconv.GEN_AI_USAGE_INPUT_TOKENS] = total - output
                    break
        for target, keys in _PARAMETERS:
            for key in keys:
                value: Any = params.get(key)
                if isinstance(value, str) and target.endswith("stop_sequences"):
                    value = (value,)
                if isinstance(value, list | tuple):
                    if not all(isinstance(v, str) for v in value):
                        continue
                    value = tuple(value)
                if isinstance(value, bool) or not isinstance(value, int | float | str | tuple):
                    continue
                out[target] = value
                break
        if self.attrs.get(OI_OUTPUT_VALUE) is not None:
            mime = self.attrs.get(OI_OUTPUT_MIME_TYPE)
            response = (
                _loads(self.attrs[OI_OUTPUT_VALUE]) if mime in (None, "application/json") else None
            )
            if isinstance(response, Mapping) and isinstance(response.get("id"), str):
                out[semconv.GEN_AI_RESPONSE_ID] = response["id"]

    def finish_reasons(self, output: list[dict[str, Any]] | None) -> tuple[str, ...]:
        reasons: list[str] = []
        for message in output or ():
            reason = message.get("finish_reason")
            if isinstance(reason, str):
                reasons.append(reason)
        if not reasons:
            raw = self.get(OI_FINISH_REASON)
            if isinstance(raw, str) and raw:
                reasons.append(finish_reason(raw))
        return tuple(reasons)

    # -- content -------------------------------------------------------------------------

    def input_messages(self, events: Sequence[Event]) -> list[dict[str, Any]] | None:
        if _INPUT_MESSAGES in self.indexed:
            return [
                self._oi_message(i, _INPUT_MESSAGES, "user")
                for i in sorted(self.indexed[_INPUT_MESSAGES])
            ]
        if _LEGACY_PROMPTS in self.indexed:
            return [
                self._legacy_message(m, "user")
                for _, m in sorted(self.indexed[_LEGACY_PROMPTS].items())
            ]
        if _OI_PROMPTS in self.indexed:
            messages = []
            for _, fields in sorted(self.indexed[_OI_PROMPTS].items()):
                text = fields.get("prompt.text")
                if isinstance(text, str):
                    messages.append({"role": "user", "parts": [{"type": "text", "content": text}]})
            return messages or None
        legacy = _chat_messages(_loads(self.get(LEGACY_PROMPT)), "user")
        if legacy:
            return legacy
        return _event_messages(events, output=False)

    def output_messages(self, events: Sequence[Event]) -> list[dict[str, Any]] | None:
        if _OUTPUT_MESSAGES in self.indexed:
            messages = [
                self._oi_message(i, _OUTPUT_MESSAGES, "assistant")
                for i in sorted(self.indexed[_OUTPUT_MESSAGES])
            ]
            reason = self.attrs.get(OI_FINISH_REASON)
            if isinstance(reason, str) and reason and len(messages) == 1:
                self.consumed.add(OI_FINISH_REASON)
                messages[0]["finish_reason"] = finish_reason(reason)
            return messages
        if _LEGACY_COMPLETIONS in self.indexed:
            return [
                self._legacy_message(m, "assistant")
                for _, m in sorted(self.indexed[_LEGACY_COMPLETIONS].items())
            ]
        legacy = _chat_messages(_loads(self.get(LEGACY_COMPLETION)), "assistant")
        if legacy:
            return legacy
        return _event_messages(events, output=True)

    def tool_definitions(self) -> list[dict[str, Any]] | None:
        tools: list[dict[str, Any]] = []
        for _, fields in sorted(self.indexed.get(_OI_TOOLS, {}).items()):
            schema = _loads(fields.get("tool.json_schema"))
            if isinstance(schema, Mapping):
                tools.append(_tool_definition(schema))
        for _, fields in sorted(self.indexed.get(_LEGACY_FUNCTIONS, {}).items()):
            if not isinstance(fields.get("name"), str):
                continue
            tool: dict[str, Any] = {"type": "function", "name": fields["name"]}
            if isinstance(fields.get("description"), str):
                tool["description"] = fields["description"]
            parameters = _loads(fields.get("parameters"))
            if parameters is not None:
                tool["parameters"] = parameters
            tools.append(tool)
        return tools or None

    def _oi_message(self, index: int, prefix: str, default_role: str) -> dict[str, Any]:
        fields = self.indexed[prefix][index]
        role = _role(fields.get("message.role"), default_role)
        parts = _text_or_blocks(
            fields.get("message.content"), role, fields.get("message.tool_call_id")
        )
        for _, item in sorted(_grouped(fields, "message.contents").items()):
            kind = item.get("message_content.type")
            text = item.get("message_content.text")
            url = item.get("message_content.image.image.url")
            if isinstance(text, str) and kind in (None, "text"):
                parts.append({"type": "text", "content": text})
            elif isinstance(url, str):
                parts.append(_media_part(url))
        calls = _grouped(fields, "message.tool_calls")
        parts.extend(
            _tool_calls(
                {
                    "id": call.get("tool_call.id"),
                    "name": call.get("tool_call.function.name"),
                    "arguments": call.get("tool_call.function.arguments"),
                }
                for _, call in sorted(calls.items())
            )
        )
        if isinstance(fields.get("message.function_call_name"), str):
            parts.extend(
                _tool_calls(
                    [
                        {
                            "name": fields["message.function_call_name"],
                            "arguments": fields.get("message.function_call_arguments_json"),
                        }
                    ]
                )
            )
        return {"role": role, "parts": parts}

    def _legacy_message(self, fields: Mapping[str, Any], default_role: str) -> dict[str, Any]:
        role = _role(fields.get("role"), default_role)
        parts = _text_or_blocks(fields.get("content"), role, fields.get("tool_call_id"))
        calls = _grouped(fields, "tool_calls")
        parts.extend(_tool_calls(call for _, call in sorted(calls.items())))
        if isinstance(fields.get("function_call.name"), str):
            parts.extend(
                _tool_calls(
                    [
                        {
                            "name": fields["function_call.name"],
                            "arguments": fields.get("function_call.arguments"),
                        }
                    ]
                )
            )
        message: dict[str, Any] = {"role": role, "parts": parts}
        reason = fields.get("finish_reason")
        if isinstance(reason, str) and reason:
            message["finish_reason"] = finish_reason(reason)
        return message


def _tool_definition(schema: Mapping[str, Any]) -> dict[str, Any]:
    function = schema.get("function")
    if isinstance(function, Mapping):  # OpenAI: {"type": "function", "function": {...}}
        schema = function
    tool: dict[str, Any] = {"type": "function", "name": schema.get("name")}
    if isinstance(schema.get("description"), str):
        tool["description"] = schema["description"]
    parameters = schema.get("parameters", schema.get("input_schema"))
    if parameters is not None:
        tool["parameters"] = parameters
    return tool


_ROLE_EVENTS: Final = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


def _event_messages(events: Sequence[Event], *, output: bool) -> list[dict[str, Any]] | None:
    """Messages recorded as span events (older GenAI conventions)."""
    messages: list[dict[str, Any]] = []
    for event in events:
        attrs = event.attributes or {}
        if output and event.name == "gen_ai.content.completion":
            found = _chat_messages(_loads(attrs.get(LEGACY_COMPLETION)), "assistant")
            messages.extend(found or ())
        elif not output and event.name == "gen_ai.content.prompt":
            found = _chat_messages(_loads(attrs.get(LEGACY_PROMPT)), "user")
            messages.extend(found or ())
        elif not output and event.name in _ROLE_EVENTS:
            role = _ROLE_EVENTS[event.name]
            body = _loads(attrs.get("gen_ai.event.content"))
            body = body if isinstance(body, Mapping) else {}
            content = body.get("content", attrs.get("content"))
            parsed = _loads(content) if isinstance(content, str) else None
            parts = _text_or_blocks(
                parsed if isinstance(parsed, list) else content,
                role,
                body.get("id", attrs.get("id")),
            )
            raw_calls = body.get("tool_calls")
            if isinstance(raw_calls, list):
                found = _chat_messages([{"role": role, "tool_calls": raw_calls}], role)
                parts.extend(found[0]["parts"] if found else ())
            messages.append({"role": role, "parts": parts})
        elif output and event.name == "gen_ai.choice":
            body = _loads(attrs.get("gen_ai.event.content"))
            body = body if isinstance(body, Mapping) else {}
            message = body.get("message")
            if message is None:
                message = _loads(attrs.get("message")) or {"content": attrs.get("content")}
            reason = body.get("finish_reason", attrs.get("finish_reason"))
            found = _chat_messages(
                [{**message, "finish_reason": reason} if isinstance(message, Mapping) else {}],
                "assistant",
            )
            messages.extend(found or ())
    return messages or None


class GenAINormalizePlugin(CollectorPlugin):
    """Rewrites LLM spans of other instrumentations into the current GenAI conventions."""

    name: ClassVar[str] = "genai_normalize"

    def __init__(self, **options: Any) -> None:
        self.options = parse_options(self.name, GenAINormalizeOptions, options)
        self._lock = threading.Lock()
        self._counts = {"normalized": 0}

    def process(self, spans: list[ReadableSpan]) -> list[ReadableSpan]:
        """The spans, LLM calls of other instrumentations with current GenAI attributes."""
        out = [self.normalize(span) for span in spans]
        changed = sum(1 for new, old in zip(out, spans, strict=True) if new is not old)
        if changed:
            with self._lock:
                self._counts["normalized"] += changed
        return out

    def counts(self) -> dict[str, int]:
        """``normalized``: spans rewritten so far."""
        with self._lock:
            return dict(self._counts)

    def normalize(self, span: ReadableSpan) -> ReadableSpan:
        """``span`` with current GenAI attributes added, or ``span`` itself if none apply."""
        attrs = span.attributes
        if not attrs:
            return span
        new = self.attributes_for(attrs, span.events, span.name)
        if new is None:
            return span
        return replace_span(span, attributes=new)

    def attributes_for(
        self, attrs: Mapping[str, Any], events: Sequence[Event] = (), span_name: str = ""
    ) -> dict[str, Any] | None:
        """The normalised attributes, or None if there is nothing to change."""
        translation = _Translation(attrs)
        operation = attrs.get(semconv.GEN_AI_OPERATION_NAME)
        if not isinstance(operation, str):
            operation = translation.operation(span_name)
        if operation is None:
            return None
        added: dict[str, Any] = {semconv.GEN_AI_OPERATION_NAME: operation}
        provider = translation.provider()
        if provider:
            added[semconv.GEN_AI_PROVIDER_NAME] = provider
        translation.scalars(added)
        truncated = False
        if self.options.content:
            output = None
            if semconv.GEN_AI_OUTPUT_MESSAGES not in attrs:
                output = translation.output_messages(events)
            reasons = translation.finish_reasons(output)
            if reasons:
                added[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
            contents = {
                semconv.GEN_AI_INPUT_MESSAGES: (
                    None
                    if semconv.GEN_AI_INPUT_MESSAGES in attrs
                    else translation.input_messages(events)
                ),
                semconv.GEN_AI_OUTPUT_MESSAGES: output,
                semconv.GEN_AI_TOOL_DEFINITIONS: (
                    None
                    if semconv.GEN_AI_TOOL_DEFINITIONS in attrs
                    else translation.tool_definitions()
                ),
            }
            for name, value in contents.items():
                if value:
                    text, cut = fit_json(value, self.options.max_content_length)
                    truncated = truncated or cut
                    added[name] = text
        if truncated:
            added[semconv.MOXN_TRUNCATED] = True
        changes = {k: v for k, v in added.items() if k not in attrs}
        if not changes and not (self.options.drop_source_attributes and translation.consumed):
            return None
        out = dict(attrs)
        if self.options.drop_source_attributes:
            for key in translation.consumed:
                out.pop(key, None)
        out.update(changes)
        return out
