"""moxtrace: OpenTelemetry-native tracing and telemetry for LLM applications.

The public API, re-exported; see docs/ for guides.
"""

from __future__ import annotations

from moxtrace._version import __version__
from moxtrace.client import MoxnClient
from moxtrace.codegen import DatamodelCodegenResponse, RenderableModel
from moxtrace.errors import (
    AuthenticationError,
    AuthorizationError,
    ConflictError,
    MoxnConnectionError,
    MoxnError,
    MoxnTimeoutError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from moxtrace.instrumentation import instrument, uninstrument
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
    BranchHeadResponse,
    LLMEvent,
    MessageData,
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
    "AuthenticationError",
    "AuthorizationError",
    "BranchHeadResponse",
    "ConflictError",
    "ContentCapture",
    "ContextThreadPoolExecutor",
    "DatamodelCodegenResponse",
    "FlushResult",
    "LLMEvent",
    "MessageData",
    "MessageRole",
    "MoxnClient",
    "MoxnConnectionError",
    "MoxnError",
    "MoxnPropagator",
    "MoxnTimeoutError",
    "MoxnTraceCarrier",
    "NotFoundError",
    "ParsedResponse",
    "PromptSession",
    "PromptTemplate",
    "Provider",
    "RateLimitError",
    "RenderableModel",
    "ServerError",
    "Settings",
    "SpanContext",
    "SyncMoxnClient",
    "Task",
    "TraceContext",
    "ValidationError",
    "__version__",
    "bind_context",
    "instrument",
    "uninstrument",
]
