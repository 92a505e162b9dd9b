"""``WithoutContent``: third-party destinations get spans without message content."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moxtrace.exporters import WithoutContent
from moxtrace.exporters.content import for_third_party, strip_content
from moxtrace.tracing import ContentCapture, semconv
from tests.unit.exporters.factories import readable_span

CONTENT = '[{"role":"user","parts":[{"type":"text","content":"secret"}]}]'


def with_all_content() -> ReadableSpan:
    base = readable_span(0, content=CONTENT)
    attrs = dict(base.attributes or {})
    attrs[semconv.GEN_AI_OUTPUT_MESSAGES] = CONTENT
    attrs[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = "[]"
    attrs[semconv.GEN_AI_TOOL_DEFINITIONS] = "[]"
    event = Event(
        "gen_ai.client.inference.operation.details",
        {semconv.GEN_AI_INPUT_MESSAGES: CONTENT, "gen_ai.response.id": "r1"},
        timestamp=base.start_time,
    )
    return ReadableSpan(
        name=base.name,
        context=base.context,
        parent=base.parent,
        resource=base.resource,
        attributes=attrs,
        events=(event, Event("plain", {"k": 1}, timestamp=base.start_time)),
        kind=base.kind,
        status=base.status,
        start_time=base.start_time,
        end_time=base.end_time,
        instrumentation_scope=base.instrumentation_scope,
    )


def test_content_attributes_are_removed_from_span_and_events() -> None:
    span = with_all_content()
    stripped = strip_content(span)
    attrs = stripped.attributes or {}
    assert not semconv.CONTENT_ATTRIBUTES & set(attrs)
    assert set(attrs) == set(span.attributes or {}) - semconv.CONTENT_ATTRIBUTES
    assert stripped.events[0].attributes == {"gen_ai.response.id": "r1"}
    assert stripped.events[1] is span.events[1]
    for name in (
        "name",
        "context",
        "parent",
        "kind",
        "status",
        "start_time",
        "end_time",
        "resource",
    ):
        assert getattr(stripped, name) == getattr(span, name)
    assert "secret" not in stripped.to_json()


def test_spans_without_content_pass_as_they_are() -> None:
    span = readable_span(0)
    assert strip_content(span) is span


def test_wrapper_exports_stripped_spans_and_forwards_lifecycle() -> None:
    class Recording(InMemorySpanExporter):
        flushed: list[int] = []

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            self.flushed.append(timeout_millis)
            return True

    inner = Recording()
    wrapper = WithoutContent(inner)
    assert wrapper.export([with_all_content(), readable_span(1)]) is SpanExportResult.SUCCESS
    exported = inner.get_finished_spans()
    assert [s.name for s in exported] == ["span-0", "span-1"]
    assert all(not semconv.CONTENT_ATTRIBUTES & set(s.attributes or {}) for s in exported)
    assert wrapper.force_flush(123)
    assert inner.flushed == [123]
    wrapper.shutdown()
    assert inner.export([readable_span(2)]) is SpanExportResult.FAILURE  # shut down


def test_policy_decides_the_wrapping() -> None:
    class Null(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    exporter = Null()
    wrapped = for_third_party(exporter, ContentCapture.MOXN)
    assert isinstance(wrapped, WithoutContent)
    assert wrapped.exporter is exporter
    assert for_third_party(exporter, ContentCapture.ALL) is exporter
    assert for_third_party(exporter, ContentCapture.NONE) is exporter
