"""Between OpenTelemetry contexts and ``MoxnTraceCarrier``, and the ``moxn`` propagator.

``carrier_from_context`` captures the current span's W3C context, baggage and Moxn
identity; ``context_from_carrier`` turns a carrier back into a context whose current
span is the remote parent. ``MoxnPropagator`` is the same logic as an OpenTelemetry
``TextMapPropagator``, so ``OTEL_PROPAGATORS=tracecontext,baggage,moxn`` makes any
instrumented hop (HTTP, messaging) carry the Moxn identity in ``tracestate``.
"""

from __future__ import annotations

import functools
from typing import Any

from opentelemetry import baggage as otel_baggage
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.trace import NonRecordingSpan, TraceFlags, TraceState

from moxtrace.tracing.identity import MoxnIdentity
from moxtrace.tracing.scope import SCOPE_KEY, Scope, current_identity
from moxtrace.types.carrier import (
    MOXN_TRACESTATE_KEY,
    MoxnTraceCarrier,
    decode_identity,
    parse_traceparent,
    split_tracestate,
)

__all__ = [
    "MoxnPropagator",
    "carrier_from_context",
    "context_from_carrier",
    "context_from_headers",
    "trace_headers",
]

_baggage = W3CBaggagePropagator()


def trace_headers(context: Context | None = None) -> dict[str, str] | None:
    """The W3C headers for the current (or given) context, ``None`` when no span is active:
    ``traceparent``, ``tracestate`` (the ``moxn`` identity entry first) and ``baggage``.

    This is the one place trace context is written; carriers, Kafka headers and the
    ``moxn`` propagator all use it.
    """
    span_context = trace.get_current_span(context).get_span_context()
    if not span_context.is_valid:
        return None
    headers = {
        "traceparent": f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}"
        f"-{int(span_context.trace_flags):02x}"
    }
    trace_state = span_context.trace_state
    identity = current_identity(context)
    moxn = identity.tracestate_value if identity is not None else None
    if moxn is None and trace_state:
        moxn = trace_state.get(MOXN_TRACESTATE_KEY)  # identity from an upstream hop
    entries = [f"{MOXN_TRACESTATE_KEY}={moxn}"] if moxn else []
    if trace_state:
        entries.extend(f"{k}={v}" for k, v in trace_state.items() if k != MOXN_TRACESTATE_KEY)
    if entries:
        headers["tracestate"] = ",".join(entries)
    if otel_baggage.get_all(context):
        _baggage.inject(headers, context)
    return headers


def carrier_from_context(context: Context | None = None) -> MoxnTraceCarrier | None:
    """A carrier for the current (or given) context; ``None`` when no span is active."""
    headers = trace_headers(context)
    if headers is None:
        return None
    moxn, others = split_tracestate(headers.get("tracestate"))
    values: dict[str, Any] = decode_identity(moxn)
    identity = current_identity(context)
    if identity is not None:
        values = dict(identity.as_fields())
    return MoxnTraceCarrier.model_construct(
        None,
        traceparent=headers["traceparent"],
        tracestate=others,
        baggage=headers.get("baggage"),
        **values,
    )


@functools.lru_cache(maxsize=1024)
def _identity_from_entry(value: str | None) -> MoxnIdentity | None:
    fields = decode_identity(value)
    return MoxnIdentity.from_fields(fields) if fields else None


def _remote_context(
    parsed: tuple[str, str, int],
    tracestate: str | None,
    baggage: str | None,
    identity: MoxnIdentity | None,
    base: Context,
) -> Context:
    trace_id, span_id, flags = parsed
    # Keep the moxn entry in the remote parent's tracestate: child spans inherit it,
    # so even a plain ``tracecontext`` hop further on carries the identity along.
    remote = trace.SpanContext(
        trace_id=int(trace_id, 16),
        span_id=int(span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(flags & 0xFF),
        trace_state=TraceState.from_header([tracestate]) if tracestate else None,
    )
    ctx = trace.set_span_in_context(NonRecordingSpan(remote), base)
    if baggage:
        ctx = _baggage.extract({"baggage": baggage}, ctx)
    if identity:
        ctx = otel_context.set_value(SCOPE_KEY, Scope(identity, None), ctx)
    return ctx


def context_from_headers(
    traceparent: str | None,
    tracestate: str | None = None,
    baggage: str | None = None,
    base: Context | None = None,
) -> tuple[Context, MoxnIdentity | None] | None:
    """A context continuing the trace in W3C header values, and the Moxn identity found
    in ``tracestate``; ``None`` when ``traceparent`` is unusable."""
    parsed = parse_traceparent(traceparent)
    if parsed is None:
        return None
    moxn, _ = split_tracestate(tracestate) if tracestate else (None, None)
    identity = _identity_from_entry(moxn) if moxn else None
    ctx = _remote_context(parsed, tracestate, baggage, identity, base or Context())
    return ctx, identity


def context_from_carrier(
    carrier: MoxnTraceCarrier, base: Context | None = None
) -> tuple[Context, MoxnIdentity]:
    """A context continuing ``carrier``'s trace, and the identity it restores.

    If the carrier's ``traceparent`` is unusable, the context has no span: a span
    started in it begins a new trace.
    """
    ctx = base if base is not None else Context()
    identity = MoxnIdentity.from_fields(carrier.identity())
    parsed = parse_traceparent(carrier.traceparent)
    if parsed is not None:
        return _remote_context(
            parsed, carrier.wire_tracestate(), carrier.baggage, identity, ctx
        ), identity
    if carrier.baggage:
        ctx = _baggage.extract({"baggage": carrier.baggage}, ctx)
    if identity:
        ctx = otel_context.set_value(SCOPE_KEY, Scope(identity, None), ctx)
    return ctx, identity


class MoxnPropagator(TextMapPropagator):
    """W3C ``traceparent``/``tracestate`` with the Moxn identity as a ``moxn`` entry.

    It writes a superset of what the ``tracecontext`` propagator writes, so it can
    stand after it in ``OTEL_PROPAGATORS``; baggage is left to the ``baggage``
    propagator. Malformed headers are ignored: the context comes back unchanged.
    """

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        headers = trace_headers(context)
        if headers is None:
            return
        setter.set(carrier, "traceparent", headers["traceparent"])
        if "tracestate" in headers:
            setter.set(carrier, "tracestate", headers["tracestate"])

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        base = context if context is not None else otel_context.get_current()
        try:
            traceparent = getter.get(carrier, "traceparent")
            tracestate = getter.get(carrier, "tracestate")
            found = context_from_headers(
                traceparent[0] if traceparent else None,
                ",".join(tracestate)[:4096] if tracestate else None,
                None,
                base,
            )
        except Exception:
            return base
        return base if found is None else found[0]

    @property
    def fields(self) -> set[str]:
        return {"traceparent", "tracestate"}
