"""Between OpenTelemetry contexts and ``MoxnTraceCarrier``, and the ``moxn`` propagator.

``carrier_from_context`` captures the current span's W3C context, baggage and Moxn
identity; ``context_from_carrier`` turns a carrier back into a context whose current
span is the remote parent. ``MoxnPropagator`` is the same logic as an OpenTelemetry
``TextMapPropagator``, so ``OTEL_PROPAGATORS=tracecontext,baggage,moxn`` makes any
instrumented hop (HTTP, messaging) carry the Moxn identity in ``tracestate``.
"""

from __future__ import annotations

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
)

__all__ = ["MoxnPropagator", "carrier_from_context", "context_from_carrier"]

_baggage = W3CBaggagePropagator()


def carrier_from_context(context: Context | None = None) -> MoxnTraceCarrier | None:
    """A carrier for the current (or given) context; ``None`` when no span is active."""
    span_context = trace.get_current_span(context).get_span_context()
    if not span_context.is_valid:
        return None
    trace_state = span_context.trace_state
    upstream = trace_state.get(MOXN_TRACESTATE_KEY)
    if upstream is not None:
        trace_state = trace_state.delete(MOXN_TRACESTATE_KEY)
    identity = current_identity(context)
    fields = identity.as_fields() if identity else decode_identity(upstream)
    baggage_header: str | None = None
    if otel_baggage.get_all(context):
        headers: dict[str, str] = {}
        _baggage.inject(headers, context)
        baggage_header = headers.get("baggage")
    values: dict[str, Any] = dict(fields)
    return MoxnTraceCarrier.model_construct(
        None,
        traceparent=(
            f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}"
            f"-{int(span_context.trace_flags):02x}"
        ),
        tracestate=trace_state.to_header() or None,
        baggage=baggage_header,
        **values,
    )


def context_from_carrier(
    carrier: MoxnTraceCarrier, base: Context | None = None
) -> tuple[Context, MoxnIdentity]:
    """A context continuing ``carrier``'s trace, and the identity it restores.

    If the carrier's ``traceparent`` is unusable, the context has no span: a span
    started in it begins a new trace.
    """
    ctx = base if base is not None else Context()
    parsed = parse_traceparent(carrier.traceparent)
    if parsed is not None:
        trace_id, span_id, flags = parsed
        # Keep the moxn entry in the remote parent's tracestate: child spans inherit it,
        # so even a plain ``tracecontext`` hop further on carries the identity along.
        wire = carrier.wire_tracestate()
        trace_state = TraceState.from_header([wire]) if wire else None
        remote = trace.SpanContext(
            trace_id=int(trace_id, 16),
            span_id=int(span_id, 16),
            is_remote=True,
            trace_flags=TraceFlags(flags & 0xFF),
            trace_state=trace_state,
        )
        ctx = trace.set_span_in_context(NonRecordingSpan(remote), ctx)
    if carrier.baggage:
        ctx = _baggage.extract({"baggage": carrier.baggage}, ctx)
    identity = MoxnIdentity.from_fields(carrier.identity())
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
        moxn_carrier = carrier_from_context(context)
        if moxn_carrier is None:
            return
        setter.set(carrier, "traceparent", moxn_carrier.traceparent or "")
        tracestate = moxn_carrier.wire_tracestate()
        if tracestate:
            setter.set(carrier, "tracestate", tracestate)

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
            moxn_carrier = MoxnTraceCarrier.model_validate(
                {
                    "traceparent": traceparent[0] if traceparent else None,
                    "tracestate": ",".join(tracestate) if tracestate else None,
                }
            )
        except Exception:
            return base
        if not moxn_carrier.valid:
            return base
        ctx, _ = context_from_carrier(moxn_carrier, base)
        return ctx

    @property
    def fields(self) -> set[str]:
        return {"traceparent", "tracestate"}
