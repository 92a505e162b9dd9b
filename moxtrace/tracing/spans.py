"""Moxn spans: OpenTelemetry spans carrying the Moxn identity, as context managers.

``MoxnSpan`` is what ``client.span(...)`` and ``client.span_from_carrier(...)`` return:
one object usable with both ``with`` and ``async with``. Entering it starts the span
and makes it current; leaving it records an exception (status ERROR plus an exception
event, then re-raises it unchanged) and ends the span.

Tracing never raises into the application: if the tracer itself fails, the block runs
under a non-recording span and the failure is logged (rate-limited).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, TypeAlias, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN, NonRecordingSpan, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation import _SPAN_KEY
from opentelemetry.util.types import AttributeValue

from moxtrace._ratelimit import RateLimitedLogger
from moxtrace.tracing import semconv
from moxtrace.tracing.attributes import metadata_attributes
from moxtrace.tracing.events import llm_event_attributes
from moxtrace.tracing.identity import EMPTY_IDENTITY, MoxnIdentity
from moxtrace.tracing.propagation import context_from_carrier
from moxtrace.tracing.recorded import was_recorded
from moxtrace.tracing.runtime import TracingRuntime
from moxtrace.tracing.scope import SCOPE_KEY, Scope
from moxtrace.types.carrier import MoxnTraceCarrier
from moxtrace.types.telemetry import LLMEvent, SpanContext, TraceContext

__all__ = [
    "HasIdentity",
    "MoxnSpan",
    "ParentContext",
    "finish_span",
    "record_error",
    "record_llm_event",
    "resolve_parent",
    "span_from_carrier",
]

_logger = logging.getLogger("moxtrace.tracing")
_warn = RateLimitedLogger(_logger)

ParentContext: TypeAlias = "SpanContext | trace.SpanContext | Span | Context"
"""What ``parent_context=`` accepts: a moxtrace or OpenTelemetry span context, a span,
or a whole OpenTelemetry ``Context``."""


class HasIdentity(Protocol):
    """Anything that knows its Moxn identity, such as a ``PromptSession``."""

    @property
    def identity(self) -> MoxnIdentity: ...


def _otel_span_context(value: SpanContext | TraceContext) -> trace.SpanContext:
    if isinstance(value, TraceContext):
        span_id, is_remote = value.parent_span_id, True
    else:
        span_id, is_remote = value.span_id, value.is_remote
    return trace.SpanContext(
        trace_id=int(value.trace_id, 16),
        span_id=int(span_id, 16),
        is_remote=is_remote,
        trace_flags=trace.TraceFlags(value.trace_flags & 0xFF),
        trace_state=trace.TraceState.from_header([value.trace_state])
        if value.trace_state
        else None,
    )


def resolve_parent(
    parent_context: Any = None, trace_context: TraceContext | None = None
) -> Context | None:
    """The context a new span starts in (``None``: the current context).

    Explicit ``parent_context`` first; else the active span; else ``trace_context``
    (the new span is a child of the remote span); else a new trace.
    """
    if parent_context is not None:
        if isinstance(parent_context, Context):
            return parent_context
        if isinstance(parent_context, Span):
            return trace.set_span_in_context(parent_context)
        if isinstance(parent_context, SpanContext):
            parent_context = _otel_span_context(parent_context)
        if isinstance(parent_context, trace.SpanContext):
            return trace.set_span_in_context(NonRecordingSpan(parent_context))
        raise TypeError(
            "parent_context must be a moxtrace SpanContext, an OpenTelemetry SpanContext, "
            f"Span or Context, not {type(parent_context).__name__}"
        )
    if trace_context is not None and not trace.get_current_span().get_span_context().is_valid:
        ctx = trace.set_span_in_context(NonRecordingSpan(_otel_span_context(trace_context)))
        if trace_context.baggage:
            from opentelemetry.baggage.propagation import W3CBaggagePropagator

            ctx = W3CBaggagePropagator().extract({"baggage": trace_context.baggage}, ctx)
        return ctx
    return None


def record_error(span: Span, exc: BaseException) -> None:
    """Mark ``span`` failed by ``exc``: ``error.type``, an exception event, status ERROR."""
    span.set_attribute(semconv.ERROR_TYPE, type(exc).__qualname__)
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


def finish_span(span: Span | None, token: object | None, exc: BaseException | None) -> None:
    """End a span made current with ``attach`` (recording ``exc`` if any), then detach.

    Never raises: a tracer failure is logged and the context is restored regardless.
    """
    try:
        if span is not None:
            if exc is not None:
                record_error(span, exc)
            span.end()
    except Exception:
        _logger.debug("moxtrace: ending a span failed", exc_info=True)
    finally:
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]


class MoxnSpan:
    """A span to be started on entering a ``with`` or ``async with`` block.

    Yields the OpenTelemetry ``Span``: set attributes, add events, read its context.
    """

    __slots__ = (
        "_attributes",
        "_identity",
        "_kind",
        "_name",
        "_parent",
        "_runtime",
        "_span",
        "_token",
    )

    def __init__(
        self,
        runtime: TracingRuntime,
        name: str,
        identity: MoxnIdentity,
        metadata: Mapping[str, Any] | None = None,
        parent: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> None:
        self._runtime = runtime
        self._name = name
        self._identity = identity
        self._parent = parent
        self._kind = kind
        self._span: Span | None = None
        self._token: object | None = None
        attributes: dict[str, AttributeValue] = dict(identity.attributes)
        if metadata:
            extra, truncated = metadata_attributes(metadata, runtime.max_attribute_length)
            attributes.update(extra)
            if truncated:
                attributes[semconv.MOXN_TRUNCATED] = True
        self._attributes = attributes

    def __enter__(self) -> Span:
        runtime = self._runtime
        if runtime.disabled:
            return INVALID_SPAN
        try:
            span = runtime.tracer.start_span(
                self._name, context=self._parent, kind=self._kind, attributes=self._attributes
            )
            # One new context holding both the span and our scope: a copy fewer than
            # set_span_in_context followed by set_value, on the hottest path we have.
            values = dict(self._parent if self._parent is not None else otel_context.get_current())
            values[_SPAN_KEY] = span
            values[SCOPE_KEY] = Scope(self._identity, span)
            self._token = otel_context.attach(Context(values))
        except Exception:
            _logger.debug("moxtrace: starting span %r failed", self._name, exc_info=True)
            _warn.error("span-start", "moxtrace: could not start a span; tracing skipped it")
            return INVALID_SPAN
        self._span = span
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span, token = self._span, self._token
        self._span = self._token = None
        finish_span(span, token, exc)

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def span_from_carrier(
    runtime: TracingRuntime,
    carrier: MoxnTraceCarrier | Mapping[str, Any] | Any,
    name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> MoxnSpan:
    """A span continuing the trace a carrier came from, with its Moxn identity restored.

    Anything unusable (a dict of garbage, a bad ``traceparent``) starts a new trace
    and logs one rate-limited warning; it never raises.
    """
    try:
        if not isinstance(carrier, MoxnTraceCarrier):
            carrier = MoxnTraceCarrier.model_validate(carrier)
        if carrier.problems or not carrier.valid:
            reasons = "; ".join(carrier.problems) or "no traceparent"
            _warn.warning(
                "bad-carrier",
                "moxtrace: trace carrier unusable (%s); starting a new trace",
                reasons,
            )
        parent, identity = context_from_carrier(carrier)
    except Exception:
        _logger.debug("moxtrace: reading a carrier failed", exc_info=True)
        _warn.warning("bad-carrier", "moxtrace: trace carrier unusable; starting a new trace")
        parent, identity, carrier = Context(), EMPTY_IDENTITY, MoxnTraceCarrier()
    span_name = name or identity.prompt_name or "span_from_carrier"
    return MoxnSpan(runtime, span_name, identity, metadata, parent)


def _event_identity(event: LLMEvent, scope: Scope | None) -> MoxnIdentity:
    if event.prompt_id is None and scope is not None:
        return scope.identity
    return MoxnIdentity.from_fields(event.__dict__)


def _timestamp(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1e9) if value is not None else None


def record_llm_event(runtime: TracingRuntime, event: LLMEvent) -> None:
    """Record an LLM call on the current moxtrace span, or on a short span of its own.

    The first call inside ``client.span()`` is recorded on that span. A second call in
    the same span, or a call outside any moxtrace span, gets a CLIENT span
    ``chat {model}`` of its own (a child of whatever is current), so no call overwrites
    another. A call the provider SDK instrumentation already recorded (same response id,
    same trace) is not recorded again.
    """
    if runtime.disabled:
        return
    try:
        # One context read for both the span and our scope (as trace.get_current_span and
        # current_scope would each do).
        context = otel_context.get_current()
        current = cast(Span, context.get(_SPAN_KEY) or INVALID_SPAN)
        response_id = event.response.response_id
        if response_id and was_recorded(current.get_span_context().trace_id, response_id):
            _logger.debug(
                "moxtrace: response %s was recorded by the SDK instrumentation; skipped",
                response_id,
            )
            return
        attrs, _ = llm_event_attributes(
            event, runtime.content_capture, runtime.max_attribute_length
        )
        scope = context.get(SCOPE_KEY)
        if scope.__class__ is not Scope:
            scope = None
        if (
            scope is not None
            and scope.span is current
            and scope.llm_calls == 0
            and current.is_recording()
        ):
            scope.llm_calls = 1
            current.set_attributes(attrs)
            return
        if scope is not None and scope.span is current:
            scope.llm_calls += 1
        identity = _event_identity(event, scope)
        model = event.request_model or event.response.model
        child = runtime.tracer.start_span(
            f"chat {model}" if model else "chat",
            kind=SpanKind.CLIENT,
            attributes={**identity.attributes, **attrs},
            start_time=_timestamp(event.started_at),
        )
        if event.error:
            child.set_status(Status(StatusCode.ERROR, event.error))
        child.end(end_time=_timestamp(event.ended_at))
    except Exception:
        _logger.debug("moxtrace: recording an LLM event failed", exc_info=True)
        _warn.error("llm-event", "moxtrace: could not record an LLM event; it was skipped")
