"""moxtrace: OpenTelemetry-native tracing and telemetry for LLM applications.

The public API, re-exported; see docs/ for guides.
"""

from __future__ import annotations

from moxtrace._version import __version__
from moxtrace.client import MoxnClient
from moxtrace.session import PromptSession
from moxtrace.settings import Settings
from moxtrace.sync import SyncMoxnClient
from moxtrace.tracing import (
    ContentCapture,
    ContextThreadPoolExecutor,
    FlushResult,
    MoxnPropagator,
    bind_context,
)
from moxtrace.types import (
    LLMEvent,
    MessageRole,
    MoxnTraceCarrier,
    ParsedResponse,
    PromptTemplate,
    Provider,
    SpanContext,
    Task,
    TraceContext,
)

__all__ = [
    "ContentCapture",
    "ContextThreadPoolExecutor",
    "FlushResult",
    "LLMEvent",
    "MessageRole",
    "MoxnClient",
    "MoxnPropagator",
    "MoxnTraceCarrier",
    "ParsedResponse",
    "PromptSession",
    "PromptTemplate",
    "Provider",
    "Settings",
    "SpanContext",
    "SyncMoxnClient",
    "Task",
    "TraceContext",
    "__version__",
    "bind_context",
]
