"""Telemetry types: LLM events, parsed responses, span contexts and the ingest wire format."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any
from uuid import UUID, uuid4

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from moxtrace.types.blocks import (
    ContentBlock,
    ReasoningContent,
    TextContent,
    ThinkingContent,
    ToolCall,
)
from moxtrace.types.content import Provider

__all__ = [
    "LLMEvent",
    "ParsedResponse",
    "SpanContext",
    "StopReason",
    "TelemetryEventType",
    "TelemetryLogRequest",
    "TokenUsage",
    "TraceContext",
]

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_SPAN_ID = re.compile(r"^[0-9a-f]{16}$")


def _hex_id(value: Any, pattern: re.Pattern[str], what: str) -> Any:
    if isinstance(value, int):
        value = format(value, "032x" if what == "trace id" else "016x")
    if isinstance(value, str):
        value = value.lower()
        if not pattern.match(value) or not value.strip("0"):
            width = 32 if what == "trace id" else 16
            raise ValueError(f"{what} must be {width} lowercase hex digits, not all zero")
    return value


class _HexId:
    """A trace or span id checked by pydantic-core (no Python call per value).

    Hex of ``width`` digits, not all zero, any case (stored lower case); an int is
    formatted as hex first. Any problem is one error with the message of ``_hex_id``.
    """

    def __init__(self, width: int, what: str) -> None:
        self.width = width
        self.what = what

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        text = core_schema.str_schema(
            min_length=self.width,
            max_length=self.width,
            pattern=r"^0*[1-9a-fA-F][0-9a-fA-F]*$",
            to_lower=True,
        )
        spec = f"0{self.width}x"
        from_int = core_schema.chain_schema(
            [
                core_schema.int_schema(strict=True),
                core_schema.no_info_plain_validator_function(lambda v: format(v, spec)),
                text,
            ]
        )
        return core_schema.custom_error_schema(
            core_schema.union_schema([text, from_int]),
            custom_error_type="hex_id",
            custom_error_message=(
                f"Value error, {self.what} must be {self.width} lowercase hex digits, not all zero"
            ),
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "minLength": self.width,
            "maxLength": self.width,
            "pattern": f"^[0-9a-f]{{{self.width}}}$",
        }


_TraceId = Annotated[str, _HexId(32, "trace id")]
_SpanId = Annotated[str, _HexId(16, "span id")]


class StopReason(str, Enum):
    """Why the model stopped, normalised across providers (GenAI ``finish_reason`` values)."""

    STOP = "stop"
    LENGTH = "length"
    TOOL_CALL = "tool_call"
    CONTENT_FILTER = "content_filter"
    ERROR = "error"


class TokenUsage(BaseModel):
    """Token counts of one call; ``None`` where the provider did not report a figure.

    ``input_tokens`` counts all input, cached or not (as the GenAI conventions ask);
    ``cache_read_input_tokens`` and ``cache_creation_input_tokens`` are parts of it.
    """

    model_config = ConfigDict(extra="ignore")

    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None

    @property
    def total_tokens(self) -> int | None:
        """Input plus output tokens, or ``None`` when neither is known."""
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)


class ParsedResponse(BaseModel):
    """A provider's response reduced to what every provider has in common.

    ``content_blocks`` keeps text, tool calls and thinking in the order the model
    produced them; ``tool_calls``, ``thinking`` and ``text`` are views of it.
    """

    model_config = ConfigDict(extra="ignore")

    provider: Provider
    model: str | None = None
    response_id: str | None = None
    content_blocks: list[ContentBlock] = Field(default_factory=list)
    usage: TokenUsage = Field(default_factory=TokenUsage)
    stop_reason: StopReason | None = None
    raw_stop_reason: str | None = None
    raw_response: dict[str, Any] | None = None
    time_to_first_chunk_ms: float | None = None

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls, in order."""
        return [b for b in self.content_blocks if isinstance(b, ToolCall)]

    @property
    def thinking(self) -> list[ThinkingContent | ReasoningContent]:
        """Thinking and reasoning blocks, in order."""
        return [b for b in self.content_blocks if isinstance(b, ThinkingContent | ReasoningContent)]

    @property
    def text(self) -> str:
        """All text blocks joined."""
        return "".join(b.text for b in self.content_blocks if isinstance(b, TextContent))


class LLMEvent(BaseModel):
    """One LLM call, ready to be recorded on a span.

    Messages use the OpenTelemetry GenAI JSON shapes (``{"role", "parts": [...]}``) so
    they are recorded as ``gen_ai.input.messages`` without conversion. The Moxn
    identity fields say which prompt version produced the call.
    """

    model_config = ConfigDict(extra="ignore")

    provider: Provider
    request_model: str | None = None
    response: ParsedResponse
    input_messages: list[dict[str, Any]] = Field(default_factory=list)
    system_instructions: list[dict[str, Any]] = Field(default_factory=list)
    tool_definitions: list[dict[str, Any]] = Field(default_factory=list)
    request_parameters: dict[str, Any] = Field(default_factory=dict)
    prompt_id: UUID | None = None
    prompt_name: str | None = None
    task_id: UUID | None = None
    branch_id: UUID | None = None
    branch_name: str | None = None
    commit_id: str | None = None
    session_id: UUID | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


class SpanContext(BaseModel):
    """The identity of a span in this process, usable as an explicit parent."""

    model_config = ConfigDict(frozen=True)

    trace_id: str
    span_id: str
    trace_flags: int = 1
    trace_state: str | None = None
    is_remote: bool = False

    @field_validator("trace_id", mode="before")
    @classmethod
    def _trace_id(cls, v: Any) -> Any:
        return _hex_id(v, _TRACE_ID, "trace id")

    @field_validator("span_id", mode="before")
    @classmethod
    def _span_id(cls, v: Any) -> Any:
        return _hex_id(v, _SPAN_ID, "span id")


class TraceContext(BaseModel):
    """A remote caller's trace: the new span continues it as a child of ``parent_span_id``."""

    model_config = ConfigDict(frozen=True)

    trace_id: str
    parent_span_id: str
    trace_flags: int = 1
    trace_state: str | None = None
    baggage: str | None = None

    @field_validator("trace_id", mode="before")
    @classmethod
    def _trace_id(cls, v: Any) -> Any:
        return _hex_id(v, _TRACE_ID, "trace id")

    @field_validator("parent_span_id", mode="before")
    @classmethod
    def _span_id(cls, v: Any) -> Any:
        return _hex_id(v, _SPAN_ID, "span id")


class TelemetryEventType(str, Enum):
    """What a ``TelemetryLogRequest`` reports."""

    SPAN_START = "span_start"
    SPAN_END = "span_end"
    SPAN_ERROR = "span_error"
    LLM_CALL = "llm_call"
    TOOL_CALL = "tool_call"
    VALIDATION = "validation"
    CUSTOM = "custom"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class TelemetryLogRequest(BaseModel):
    """One event of the Moxn ingest wire format (``POST /telemetry/log-event``).

    ``commit_id`` and ``branch_id`` are exclusive: an event comes from a committed
    prompt or from a branch's working state, never both. Unknown fields are ignored,
    so newer senders can talk to older servers.
    """

    model_config = ConfigDict(extra="ignore")

    id: UUID = Field(default_factory=uuid4)
    timestamp: datetime = Field(default_factory=_utcnow)
    event_type: TelemetryEventType
    trace_id: _TraceId
    span_id: _SpanId
    parent_span_id: _SpanId | None = None
    sequence_number: int = Field(default=0, ge=0)
    prompt_id: UUID | None = None
    task_id: UUID | None = None
    commit_id: str | None = None
    branch_id: UUID | None = None
    system_metadata: dict[str, Any] = Field(default_factory=dict)
    user_metadata: dict[str, Any] = Field(default_factory=dict)
    content: Any = None
    content_stored: bool = False
    content_storage_key: str | None = None

    @model_validator(mode="after")
    def _one_version(self) -> TelemetryLogRequest:
        if self.commit_id is not None and self.branch_id is not None:
            raise ValueError("give commit_id or branch_id, not both")
        if self.content_stored and not self.content_storage_key:
            raise ValueError("content_stored=true needs content_storage_key")
        return self
