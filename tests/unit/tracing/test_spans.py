"""client.span / span_from_carrier / extract_context: parentage, attributes, errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import baggage, trace
from opentelemetry.context import attach, detach
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from moxtrace import (
    MoxnClient,
    MoxnTraceCarrier,
    PromptSession,
    SpanContext,
    SyncMoxnClient,
    TraceContext,
)
from moxtrace.tracing import semconv

SessionFactory = Callable[..., PromptSession]


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {s.name: s for s in exporter.get_finished_spans()}


def test_span_carries_identity_and_metadata(
    client: SyncMoxnClient, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    session = make_session()
    with client.span(
        session,
        metadata={
            "customer_id": "c1",
            "tier": 2,
            "tags": ["a", "b"],
            "nested": {"k": 1},
            "skip": None,
        },
    ):
        pass
    (span,) = exporter.get_finished_spans()
    attrs = span.attributes or {}
    assert span.name == "support-answer"  # defaults to the prompt name
    assert attrs[semconv.MOXN_PROMPT_ID] == str(session.prompt.id)
    assert attrs[semconv.MOXN_TASK_ID] == str(session.prompt.task_id)
    assert attrs[semconv.MOXN_BRANCH_NAME] == "main"
    assert semconv.MOXN_COMMIT_ID not in attrs
    assert attrs[semconv.GEN_AI_PROMPT_NAME] == "support-answer"
    assert attrs[semconv.MOXN_SESSION_ID] == str(session.id)
    assert attrs["moxn.metadata.customer_id"] == "c1"
    assert attrs["moxn.metadata.tier"] == 2
    assert attrs["moxn.metadata.tags"] == ("a", "b")
    assert attrs["moxn.metadata.nested"] == '{"k":1}'
    assert "moxn.metadata.skip" not in attrs


def test_committed_prompt_records_commit_not_branch(
    client: SyncMoxnClient, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    with client.span(make_session(commit_id="abc123"), name="pinned"):
        pass
    attrs = exporter.get_finished_spans()[0].attributes or {}
    assert attrs[semconv.MOXN_COMMIT_ID] == "abc123"
    assert semconv.MOXN_BRANCH_ID not in attrs


def test_nested_spans_are_parent_and_child(
    client: SyncMoxnClient, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    session = make_session()
    with client.span(session, name="outer") as outer:
        with client.span(session, name="inner") as inner:
            assert trace.get_current_span() is inner
        assert trace.get_current_span() is outer
    assert trace.get_current_span() is trace.INVALID_SPAN
    spans = by_name(exporter)
    assert spans["inner"].parent is not None
    assert spans["inner"].parent.span_id == spans["outer"].context.span_id
    assert spans["inner"].context.trace_id == spans["outer"].context.trace_id
    assert spans["outer"].parent is None


def test_spans_nest_under_a_foreign_otel_span(
    client: SyncMoxnClient, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    provider = TracerProvider()
    foreign = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(foreign))
    with provider.get_tracer("app").start_as_current_span("http-request") as request_span:
        with client.span(make_session(), name="llm-step"):
            pass
    (step,) = exporter.get_finished_spans()
    assert step.parent is not None
    assert step.parent.span_id == request_span.get_span_context().span_id


async def test_async_nesting_and_1000_concurrent_tasks_keep_their_parents(
    aclient: MoxnClient, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    session = make_session()

    async def job(i: int) -> None:
        async with aclient.span(session, name=f"job-{i}"):
            await asyncio.sleep(0)
            async with aclient.span(session, name=f"child-{i}"):
                await asyncio.sleep(0)

    async with aclient.span(session, name="root"):
        await asyncio.gather(*(job(i) for i in range(1000)))
    spans = by_name(exporter)
    assert len(spans) == 2001
    root = spans["root"]
    for i in range(1000):
        job_span, child = spans[f"job-{i}"], spans[f"child-{i}"]
        assert job_span.parent is not None
        assert child.parent is not None
        assert job_span.parent.span_id == root.context.span_id
        assert child.parent.span_id == job_span.context.span_id
        assert child.context.trace_id == root.context.trace_id


def test_trace_context_makes_a_child_of_the_remote_span(
    client: SyncMoxnClient, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    remote = TraceContext(
        trace_id="ab" * 16, parent_span_id="cd" * 8, trace_state="vendor=1", baggage="user=alice"
    )
    with client.span(make_session(), trace_context=remote):
        assert baggage.get_baggage("user") == "alice"
    (span,) = exporter.get_finished_spans()
    assert format(span.context.trace_id, "032x") == "ab" * 16
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == "cd" * 8
    assert span.parent.is_remote
    assert span.context.trace_state.get("vendor") == "1"


def test_active_span_wins_over_trace_context(
    client: SyncMoxnClient, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    session = make_session()
    remote = TraceContext(trace_id="ab" * 16, parent_span_id="cd" * 8)
    with client.span(session, name="outer") as outer:
        with client.span(session, name="inner", trace_context=remote):
            pass
    inner = by_name(exporter)["inner"]
    assert inner.parent is not None
    assert inner.parent.span_id == outer.get_span_context().span_id


def test_explicit_parent_context_wins_over_the_active_span(
    client: SyncMoxnClient, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    session = make_session()
    with client.span(session, name="first") as first:
        parent = SpanContext(
            trace_id=format(first.get_span_context().trace_id, "032x"),
            span_id=format(first.get_span_context().span_id, "016x"),
        )
    with client.span(session, name="other"):
        with client.span(session, name="late", parent_context=parent):
            pass
        with client.span(session, name="late-otel", parent_context=first.get_span_context()):
            pass
        with client.span(session, name="late-span", parent_context=first):
            pass
    spans = by_name(exporter)
    for name in ("late", "late-otel", "late-span"):
        parent_ctx = spans[name].parent
        assert parent_ctx is not None
        assert parent_ctx.span_id == first.get_span_context().span_id, name
    with pytest.raises(TypeError, match="parent_context must be"):
        client.span(session, parent_context="nope")  # type: ignore[arg-type]


def test_exception_is_recorded_and_reraised_unchanged(
    client: SyncMoxnClient, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    boom = ValueError("bad input")
    with pytest.raises(ValueError, match="bad input") as info, client.span(make_session()):
        raise boom
    assert info.value is boom
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError: bad input"
    (event,) = span.events
    assert event.name == "exception"
    assert (event.attributes or {})["exception.type"] == "ValueError"
    assert (span.attributes or {})[semconv.ERROR_TYPE] == "ValueError"


async def test_async_exception_is_recorded_and_reraised(
    aclient: MoxnClient, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    with pytest.raises(KeyError):
        async with aclient.span(make_session()):
            raise KeyError("k")
    assert exporter.get_finished_spans()[0].status.status_code is StatusCode.ERROR


def test_long_metadata_is_truncated_and_marked(
    exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    from moxtrace import Settings

    client = SyncMoxnClient(
        settings=Settings(max_attribute_length=100), span_processors=[SimpleSpanProcessor(exporter)]
    )
    with client.span(make_session(), metadata={"note": "x" * 1000, "short": "y"}):
        pass
    attrs = exporter.get_finished_spans()[0].attributes or {}
    assert attrs["moxn.metadata.note"] == "x" * 100
    assert attrs["moxn.metadata.short"] == "y"
    assert attrs[semconv.MOXN_TRUNCATED] is True
    client.close()


def test_many_attributes_are_not_dropped(
    client: SyncMoxnClient, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    metadata = {f"k{i}": i for i in range(300)}  # over the SDK's default limit of 128
    with client.span(make_session(), metadata=metadata):
        pass
    attrs = exporter.get_finished_spans()[0].attributes or {}
    assert all(f"moxn.metadata.k{i}" in attrs for i in range(300))


def test_extract_context_is_none_without_a_span(client: SyncMoxnClient) -> None:
    assert client.extract_context() is None


def test_carrier_continues_the_trace_with_identity_restored(
    client: SyncMoxnClient, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    session = make_session()
    token = attach(baggage.set_baggage("tenant", "acme"))
    try:
        with client.span(session, name="producer") as producer:
            carrier = client.extract_context()
    finally:
        detach(token)
    assert carrier is not None
    assert carrier.span_id == format(producer.get_span_context().span_id, "016x")
    assert carrier.prompt_id == str(session.prompt.id)
    assert carrier.baggage == "tenant=acme"
    # Through JSON, as a queue message body would carry it.
    wire = carrier.model_dump(mode="json")
    with client.span_from_carrier(MoxnTraceCarrier.model_validate(wire), metadata={"job": 1}):
        assert baggage.get_baggage("tenant") == "acme"
        nested = client.extract_context()
    worker = by_name(exporter)["support-answer"]  # name defaults to the carrier's prompt
    assert worker.context.trace_id == producer.get_span_context().trace_id
    assert worker.parent is not None
    assert worker.parent.is_remote
    assert worker.parent.span_id == producer.get_span_context().span_id
    attrs = worker.attributes or {}
    assert attrs[semconv.MOXN_PROMPT_ID] == str(session.prompt.id)
    assert attrs[semconv.MOXN_SESSION_ID] == str(session.id)
    assert attrs["moxn.metadata.job"] == 1
    # The identity flows on to the next hop.
    assert nested is not None
    assert nested.prompt_id == str(session.prompt.id)


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        "not a carrier",
        12,
        {"traceparent": "00-zz-yy-01"},
        {"traceparent": ["list"]},
        {"traceparent": "x" * 1_000_000},
        MoxnTraceCarrier(traceparent="00-" + "0" * 32 + "-" + "1" * 16 + "-01"),
    ],
)
def test_garbage_carrier_starts_a_new_trace_with_one_warning(
    client: SyncMoxnClient,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
    garbage: Any,
) -> None:
    caplog.set_level(logging.WARNING, logger="moxtrace")
    with client.span_from_carrier(garbage, name="worker"):
        pass
    with client.span_from_carrier(garbage, name="worker-again"):
        pass
    spans = by_name(exporter)
    assert spans["worker"].parent is None
    assert spans["worker-again"].parent is None
    assert spans["worker"].context.trace_id != spans["worker-again"].context.trace_id
    warnings = [r for r in caplog.records if "carrier unusable" in r.getMessage()]
    assert len(warnings) == 1  # rate-limited


def test_garbage_carrier_ignores_the_active_span(
    client: SyncMoxnClient, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    with client.span(make_session(), name="outer"), client.span_from_carrier({}, name="w"):
        pass
    assert by_name(exporter)["w"].parent is None


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.sampled_from(["traceparent", "tracestate", "baggage", "prompt_id", "prompt_name"]),
        st.text(max_size=300) | st.integers() | st.binary(max_size=50) | st.none(),
    )
)
def test_hypothesis_garbage_carriers_never_raise(
    client: SyncMoxnClient, data: dict[str, Any]
) -> None:
    with client.span_from_carrier(data) as span:
        assert span.get_span_context().is_valid
        carrier = client.extract_context()
    assert carrier is not None


def test_disabled_sdk_makes_everything_a_no_op(
    monkeypatch: pytest.MonkeyPatch, exporter: InMemorySpanExporter, make_session: SessionFactory
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    client = SyncMoxnClient(span_processors=[SimpleSpanProcessor(exporter)])
    session = make_session()
    with client.span(session) as span:
        assert not span.is_recording()
        assert client.extract_context() is None
    with client.span_from_carrier({"traceparent": "junk"}):
        pass
    from moxtrace import Provider
    from tests.unit.payloads import ANTHROPIC_RESPONSE

    client.log_telemetry_event_from_response(session, ANTHROPIC_RESPONSE, Provider.ANTHROPIC)
    assert client.flush(1).complete
    assert exporter.get_finished_spans() == ()
    assert client.tracing.provider is None
    client.close()
