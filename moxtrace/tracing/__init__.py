"""The tracing core: Moxn spans, LLM events and carriers as OpenTelemetry spans."""

from __future__ import annotations

from moxtrace.tracing.content import ContentCapture
from moxtrace.tracing.identity import MoxnIdentity
from moxtrace.tracing.processor import BatchSpanProcessor, ProcessorStats
from moxtrace.tracing.propagation import MoxnPropagator, carrier_from_context, context_from_carrier
from moxtrace.tracing.runtime import FlushResult, TracingRuntime
from moxtrace.tracing.scope import current_identity
from moxtrace.tracing.spans import MoxnSpan, record_llm_event
from moxtrace.tracing.threads import ContextThreadPoolExecutor, bind_context

__all__ = [
    "BatchSpanProcessor",
    "ContentCapture",
    "ContextThreadPoolExecutor",
    "FlushResult",
    "MoxnIdentity",
    "MoxnPropagator",
    "MoxnSpan",
    "ProcessorStats",
    "TracingRuntime",
    "bind_context",
    "carrier_from_context",
    "context_from_carrier",
    "current_identity",
    "record_llm_event",
]
