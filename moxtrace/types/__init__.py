"""Pydantic models of the entity model and of telemetry. No I/O happens here."""

from __future__ import annotations

from moxtrace.types.blocks import (
    ContentBlock,
    ImageContentFromSource,
    PDFContentFromSource,
    ReasoningContent,
    SignedURLImageContent,
    SignedURLPDFContent,
    TextContent,
    TextContentModel,
    ThinkingContent,
    ToolCall,
    ToolResult,
    Variable,
)
from moxtrace.types.carrier import MoxnTraceCarrier
from moxtrace.types.content import Author, MessageRole, Provider, VariableFormat, VariableType
from moxtrace.types.prompt import Message, PromptTemplate
from moxtrace.types.requests import MessageData
from moxtrace.types.schema import CompletionConfig, Property, Schema, SchemaDefinition, SdkTool
from moxtrace.types.task import Branch, BranchHeadResponse, Commit, Task
from moxtrace.types.telemetry import (
    LLMEvent,
    ParsedResponse,
    SpanContext,
    StopReason,
    TelemetryEventType,
    TelemetryLogRequest,
    TokenUsage,
    TraceContext,
)

__all__ = [
    "Author",
    "Branch",
    "BranchHeadResponse",
    "Commit",
    "CompletionConfig",
    "ContentBlock",
    "ImageContentFromSource",
    "LLMEvent",
    "Message",
    "MessageData",
    "MessageRole",
    "MoxnTraceCarrier",
    "PDFContentFromSource",
    "ParsedResponse",
    "PromptTemplate",
    "Property",
    "Provider",
    "ReasoningContent",
    "Schema",
    "SchemaDefinition",
    "SdkTool",
    "SignedURLImageContent",
    "SignedURLPDFContent",
    "SpanContext",
    "StopReason",
    "Task",
    "TelemetryEventType",
    "TelemetryLogRequest",
    "TextContent",
    "TextContentModel",
    "ThinkingContent",
    "TokenUsage",
    "ToolCall",
    "ToolResult",
    "TraceContext",
    "Variable",
    "VariableFormat",
    "VariableType",
]
