"""One instrumented SDK call on a GenAI CLIENT span: start, then finish, stream or fail.

``Recorder.start`` runs before the SDK method: it picks the span the call is recorded on
and the context the method runs in. Usually that is a new CLIENT span ``chat {model}``
carrying the Moxn identity (from the invocation's marked messages, else from the current
moxtrace scope) and the request attributes. When another instrumentation's GenAI span is
already open around the call (``opentelemetry-instrumentation-openai-v2`` and the like,
which wrap the same method outside moxtrace), the call is recorded into that span
instead: one span per call. The context also marks the call as in flight, which keeps an
SDK's own call span (Anthropic's) and nested instrumented calls from recording it again.

``LLMCall.finish`` reads the response's fields for the span (``read_reply``: straight off
the SDK object, for the shapes it knows; else the provider's parser,
``moxtrace.session.providers``; a stream's chunks as they pass, ``stream_reply``) and
maps them with ``llm_call_attributes``: the one mapping from an LLM call to span
attributes (``log_telemetry_event`` uses it too).
Nothing here raises into the application: a failure to record is logged (rate-limited)
and the SDK's result is returned as it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation import _SPAN_KEY
from opentelemetry.util.types import AttributeValue

from moxtrace._ratelimit import RateLimitedLogger
from moxtrace.instrumentation._content import guard_exporters
from moxtrace.instrumentation._endpoints import Endpoint
from moxtrace.instrumentation._reply import Reply, is_model, read_reply, timed
from moxtrace.instrumentation._request import EMPTY_CONTENT, Request
from moxtrace.instrumentation._stream import wrap_stream
from moxtrace.instrumentation._stream_reply import StreamReply, stream_reply
from moxtrace.session.providers import parse_response
from moxtrace.tracing import semconv
from moxtrace.tracing.content import ContentCapture
from moxtrace.tracing.events import llm_call_attributes
from moxtrace.tracing.invocation import invocation_identity
from moxtrace.tracing.recorded import mark_recorded
from moxtrace.tracing.runtime import TracingRuntime
from moxtrace.tracing.scope import SCOPE_KEY, current_identity
from moxtrace.types.telemetry import ParsedResponse

__all__ = ["ACTIVE_KEY", "LLMCall", "Recorder", "call_in_flight"]

_logger = logging.getLogger("moxtrace.instrumentation")
_warn = RateLimitedLogger(_logger)

ACTIVE_KEY = otel_context.create_key("moxtrace-llm-call")
"""Set in the context an instrumented SDK method runs in."""

_GENAI_MARKERS = (semconv.GEN_AI_OPERATION_NAME, "gen_ai.system")
# Enum members read off their class on every call cost a Python call each.
_CLIENT = SpanKind.CLIENT
_NO_CONTENT = ContentCapture.NONE


def call_in_flight(context: Context | None = None) -> bool:
    """Whether an instrumented SDK call is running in the current (or given) context."""
    return otel_context.get_value(ACTIVE_KEY, context) is not None


def _open_genai_span(span: Span) -> bool:
    """Whether ``span`` is a recording GenAI CLIENT span (another instrumentation's call)."""
    if not isinstance(span, ReadableSpan) or span.kind is not SpanKind.CLIENT:
        return False
    if not span.is_recording():
        return False
    attributes = span.attributes
    return attributes is not None and any(name in attributes for name in _GENAI_MARKERS)


class Recorder:
    """Where instrumented calls are recorded: a tracing runtime (its tracer and attribute
    size limit) and the content policy.

    ``guard``: the runtime's provider is not one moxtrace assembled, so the default content
    policy needs ``guard_exporters`` before content is recorded (checked on first use,
    when the global provider has been set).
    """

    def __init__(self, runtime: TracingRuntime, *, capture: ContentCapture, guard: bool) -> None:
        self.runtime = runtime
        self._capture: ContentCapture | None = (
            None if guard and capture is ContentCapture.MOXN else capture
        )

    @property
    def content_capture(self) -> ContentCapture:
        """The content policy in force for instrumented calls."""
        capture = self._capture
        if capture is not None:
            return capture
        provider = self.runtime.provider
        if provider is None or isinstance(provider, trace.ProxyTracerProvider):
            provider = trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider):
            return ContentCapture.NONE  # nothing is recorded yet: decide once there is a provider
        capture = ContentCapture.MOXN if guard_exporters(provider) else ContentCapture.NONE
        self._capture = capture
        return capture

    def start(self, endpoint: Endpoint, instance: Any, kwargs: Mapping[str, Any]) -> LLMCall | None:
        """The call about to be made, or None to let it through unrecorded."""
        runtime = self.runtime
        if runtime.disabled:
            return None
        try:
            parent = otel_context.get_current()
            if parent.get(_SUPPRESS_INSTRUMENTATION_KEY) or parent.get(ACTIVE_KEY) is not None:
                return None
            request = endpoint.read_request(kwargs)
            provider = endpoint.provider_of(instance)
            conversation = kwargs.get(endpoint.conversation)
            # Most calls: a plain list of messages, no scope, no span yet (no lookups then).
            identity = None if conversation.__class__ is list else invocation_identity(conversation)
            if not identity and SCOPE_KEY in parent:
                identity = current_identity(parent)
            current = trace.get_current_span(parent) if _SPAN_KEY in parent else INVALID_SPAN
            values = dict(parent)
            if current is not INVALID_SPAN and _open_genai_span(current):
                span, owned = current, False
                if identity:
                    span.set_attributes(identity.attributes)
            else:
                attributes: dict[str, AttributeValue] = {
                    semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_CHAT,
                    semconv.GEN_AI_PROVIDER_NAME: semconv.PROVIDER_NAMES[provider],
                }
                if identity:
                    attributes.update(identity.attributes)
                if request.model:
                    attributes[semconv.GEN_AI_REQUEST_MODEL] = request.model
                span = runtime.tracer.start_span(
                    f"chat {request.model}" if request.model else "chat",
                    context=parent,
                    kind=_CLIENT,
                    attributes=attributes,
                )
                owned = True
                values[_SPAN_KEY] = span
            values[ACTIVE_KEY] = span
            trace_id = 0 if current is INVALID_SPAN else current.get_span_context().trace_id
            return LLMCall(
                self,
                endpoint,
                provider,
                request,
                kwargs,
                span,
                owned,
                Context(values),
                trace_id,
            )
        except Exception:
            _logger.debug(
                "moxtrace: starting the span of %s failed", endpoint.qualname, exc_info=True
            )
            _warn.error("start", "moxtrace: could not record an LLM call; it was let through")
            return None


class LLMCall:
    """An SDK call in flight, and the span it is recorded on (its own, or another
    instrumentation's: then it is not ended here)."""

    __slots__ = (
        "context",
        "done",
        "endpoint",
        "kwargs",
        "owned",
        "provider",
        "recorder",
        "request",
        "span",
        "started",
        "streams",
        "trace_id",
    )

    def __init__(
        self,
        recorder: Recorder,
        endpoint: Endpoint,
        provider: Any,
        request: Request,
        kwargs: Mapping[str, Any],
        span: Span,
        owned: bool,
        context: Context,
        trace_id: int,
    ) -> None:
        self.recorder = recorder
        self.endpoint = endpoint
        self.provider = provider
        self.request = request
        self.kwargs = kwargs
        self.span = span
        self.owned = owned
        self.context = context
        self.trace_id = trace_id
        self.started = time.perf_counter()
        self.done = False
        self.streams: bool = endpoint.streams or request.stream  # it returns a stream

    # -- outcomes ---------------------------------------------------------------------
    def finish(self, result: Any) -> Any:
        """Record a returned response; for a stream, the object to hand the application
        (the stream, wrapped). Returns ``result`` itself if anything goes wrong."""
        try:
            if self.streams:
                if _raw_response(result):
                    self.end(None)
                    return result
                return wrap_stream(result, self, self.stream_reply())
            response = result
            if _raw_response(result):
                if not getattr(result.http_response, "is_closed", False):
                    # with_streaming_response: the body is the application's to read.
                    self.end(None)
                    return result
                response = result.parse()  # with_raw_response: read already; parse is cached
            parsed = read_reply(response, self.provider) or parse_response(
                response, self.provider, raw=False
            )
        except Exception:
            _logger.debug(
                "moxtrace: reading the response of %s failed", self.endpoint.qualname, exc_info=True
            )
            _warn.warning(
                "response", "moxtrace: could not read an LLM response; recorded without it"
            )
            parsed = None
        self.end(parsed)
        return result

    def stream_reply(self) -> StreamReply | None:
        """The reader of the stream's chunks, its clock started with the call."""
        try:
            return stream_reply(self.provider, self.started)
        except Exception:
            _logger.debug("moxtrace: no stream reader for %s", self.provider, exc_info=True)
            return None

    def end_stream(
        self,
        reader: StreamReply | None,
        first_chunk_at: float | None = None,
        stream: Any = None,
    ) -> None:
        """Record a stream that ended (read to the end, closed or dropped early): what the
        reader gathered, or the message snapshot of a stream helper's stream."""
        if self.done:
            return
        parsed: ParsedResponse | Reply | None = None
        try:
            waited = (
                None if first_chunk_at is None else max(0.0, (first_chunk_at - self.started) * 1e3)
            )
            if self.endpoint.manager:
                snapshot = _snapshot(stream)
                if snapshot is not None:
                    parsed = read_reply(snapshot, self.provider) or parse_response(
                        snapshot, self.provider, raw=False
                    )
                    if waited is not None:
                        parsed = timed(parsed, waited)
            elif reader is not None and waited is not None:
                parsed = reader.reply(waited)
        except Exception:
            _logger.debug(
                "moxtrace: reading the stream of %s failed", self.endpoint.qualname, exc_info=True
            )
            parsed = None
        self.end(parsed)

    def end(self, parsed: ParsedResponse | Reply | None) -> None:
        """Set the response attributes (if any) and end the span (if it is ours)."""
        if self.done:
            return
        self.done = True
        try:
            span = self.span
            if parsed is not None and span.is_recording():
                span.set_attributes(self.attributes(parsed))
                if parsed.response_id:
                    mark_recorded(self.trace_id, parsed.response_id)
            if self.owned:
                span.end()
        except Exception:
            _logger.debug(
                "moxtrace: ending the span of %s failed", self.endpoint.qualname, exc_info=True
            )
            _warn.error("end", "moxtrace: could not record an LLM response")

    def fail(self, exc: BaseException) -> None:
        """Record the exception the SDK raised (status ERROR, ``error.type``) and end the
        span. Another instrumentation's span records the error itself."""
        if self.done:
            return
        self.done = True
        if not self.owned:
            return
        try:
            span = self.span
            span.set_attribute(semconv.ERROR_TYPE, type(exc).__qualname__)
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            span.end()
        except Exception:
            _logger.debug(
                "moxtrace: recording an error of %s failed", self.endpoint.qualname, exc_info=True
            )

    def attributes(self, parsed: ParsedResponse | Reply) -> dict[str, AttributeValue]:
        """The span attributes of the call: those of its ``LLMEvent`` (``llm_call_attributes``,
        the mapping ``log_telemetry_event`` uses)."""
        recorder = self.recorder
        capture = recorder.content_capture
        content = EMPTY_CONTENT
        if capture is not _NO_CONTENT:
            try:
                content = self.endpoint.read_content(self.kwargs)
            except Exception:
                _logger.debug(
                    "moxtrace: reading the request of %s failed",
                    self.endpoint.qualname,
                    exc_info=True,
                )
        request = self.request
        attributes, _ = llm_call_attributes(  # positional: no keyword binding on every call
            self.provider,
            parsed,
            capture,
            recorder.runtime.max_attribute_length,
            request.model,
            request.parameters,
            content.messages,
            content.system,
            content.tools,
            None,
            None,
            parsed.output if parsed.__class__ is Reply else None,
        )
        if self.owned:
            # Set when the span started (for samplers): not again.
            del attributes[semconv.GEN_AI_OPERATION_NAME], attributes[semconv.GEN_AI_PROVIDER_NAME]
            if request.model and attributes.get(semconv.GEN_AI_REQUEST_MODEL) == request.model:
                del attributes[semconv.GEN_AI_REQUEST_MODEL]
        return attributes


def _snapshot(stream: Any) -> Any:
    """The message a stream helper's stream has accumulated, if it has one."""
    try:
        return getattr(stream, "current_message_snapshot", None)
    except Exception:  # the SDK asserts there is one
        return None


_RAW_CLASSES: dict[type, bool] = {}


def _raw_response(result: Any) -> bool:
    """Whether ``result`` is an SDK raw-response wrapper (``with_raw_response``), remembered
    by class: a stream has no ``http_response``, and a failed attribute lookup raises and
    clears an AttributeError."""
    kind = result.__class__
    raw = _RAW_CLASSES.get(kind)
    if raw is None:
        if len(_RAW_CLASSES) > 1024:  # bounded: classes made on the fly come and go
            _RAW_CLASSES.clear()
        raw = _RAW_CLASSES[kind] = (
            not is_model(result)  # the parsed response itself, the common case
            and hasattr(result, "http_response")
            and callable(getattr(result, "parse", None))
        )
    return raw
