"""Provider SDK instrumentation: LLM traces from an application that was never changed.

``moxtrace.instrument()`` wraps the official ``anthropic``, ``openai`` and ``google-genai``
clients so every call (sync, async, streamed) becomes a GenAI CLIENT span ``chat {model}``;
``uninstrument()`` restores them. ``MoxnInstrumentor`` (in
``moxtrace.instrumentation.instrumentor``, registered as the ``opentelemetry_instrumentor``
``moxn``) does the same for ``opentelemetry-instrument``. See docs/instrumentation.md.
"""

from __future__ import annotations

from moxtrace.instrumentation._api import (
    instrument,
    instrument_anthropic,
    instrument_google_genai,
    instrument_openai,
    instrumented,
    uninstrument,
    uninstrument_anthropic,
    uninstrument_google_genai,
    uninstrument_openai,
)
from moxtrace.instrumentation._stream import AsyncTracedStream, TracedStream

__all__ = [
    "AsyncTracedStream",
    "TracedStream",
    "instrument",
    "instrument_anthropic",
    "instrument_google_genai",
    "instrument_openai",
    "instrumented",
    "uninstrument",
    "uninstrument_anthropic",
    "uninstrument_google_genai",
    "uninstrument_openai",
]
