"""MoxnPropagator carries the Moxn identity next to W3C context."""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.context import attach, detach
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from moxtrace import MoxnPropagator, PromptSession, SyncMoxnClient
from moxtrace.tracing import current_identity, semconv


def test_identity_crosses_a_composite_propagator_hop(
    client: SyncMoxnClient,
    exporter: InMemorySpanExporter,
    make_session: Callable[..., PromptSession],
) -> None:
    session = make_session()
    propagator = CompositePropagator([TraceContextTextMapPropagator(), MoxnPropagator()])
    headers: dict[str, str] = {}
    with client.span(session, name="caller") as caller:
        propagator.inject(headers)
    assert headers["tracestate"].startswith("moxn=")
    assert set(propagator.fields) >= {"traceparent", "tracestate"}

    ctx = propagator.extract(headers)
    identity = current_identity(ctx)
    assert identity is not None
    assert identity.prompt_id == str(session.prompt.id)
    token = attach(ctx)
    try:
        with client.tracing.tracer.start_as_current_span("handler") as handler:
            carrier = client.extract_context()
    finally:
        detach(token)
    assert handler.parent is not None  # type: ignore[attr-defined]
    assert handler.parent.span_id == caller.get_span_context().span_id  # type: ignore[attr-defined]
    assert carrier is not None
    assert carrier.prompt_id == str(session.prompt.id)
    # A plain tracecontext hop keeps the moxn entry in tracestate, so identity survives.
    plain: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(plain, ctx)
    assert "moxn=" in plain["tracestate"]


def test_malformed_headers_leave_the_context_alone() -> None:
    for headers in ({"traceparent": "junk"}, {"tracestate": "moxn=p:1"}, {}):
        ctx = MoxnPropagator().extract(headers)
        assert not trace.get_current_span(ctx).get_span_context().is_valid
        assert current_identity(ctx) is None
    carrier: dict[str, str] = {}
    MoxnPropagator().inject(carrier)
    assert carrier == {}
    assert semconv.MOXN_PROMPT_ID == "moxn.prompt.id"
