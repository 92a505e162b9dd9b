"""The content policy on instrumented calls, whichever provider the spans go through."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import moxtrace
from moxtrace import SyncMoxnClient
from moxtrace.exporters import MoxnSpanExporter, WithoutContent
from tests.unit.instrumentation.conftest import FakeProviders

MESSAGES = [
    {"role": "system", "content": "You are a support agent."},
    {"role": "user", "content": "Where is my order?"},
]
CONTENT = {
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Find an order",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
        },
    }
]


def call(fake: FakeProviders) -> None:
    fake.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS)


def content_of(span: ReadableSpan) -> set[str]:
    return CONTENT & set(span.attributes or {})


def test_all_records_content_in_the_genai_shapes(
    fake: FakeProviders, memory: InMemorySpanExporter, provider: TracerProvider
) -> None:
    moxtrace.instrument(tracer_provider=provider, content_capture="all")
    call(fake)
    (span,) = memory.get_finished_spans()
    attrs = span.attributes or {}
    assert json.loads(str(attrs["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Where is my order?"}]}
    ]
    assert json.loads(str(attrs["gen_ai.system_instructions"])) == [
        {"type": "text", "content": "You are a support agent."}
    ]
    assert json.loads(str(attrs["gen_ai.tool.definitions"])) == [
        {
            "type": "function",
            "name": "lookup",
            "description": "Find an order",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
        }
    ]
    assert json.loads(str(attrs["gen_ai.output.messages"])) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Your order ships tomorrow."}],
            "finish_reason": "stop",
        }
    ]


@pytest.mark.parametrize("how", ["option", "moxn-env", "otel-env"])
def test_none_records_no_content_but_everything_else(
    fake: FakeProviders,
    memory: InMemorySpanExporter,
    provider: TracerProvider,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    if how == "option":
        moxtrace.instrument(tracer_provider=provider, content_capture="none")
    else:
        if how == "moxn-env":
            monkeypatch.setenv("MOXN_CONTENT_CAPTURE", "none")
        else:
            monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "false")
        moxtrace.instrument(tracer_provider=provider)
    call(fake)
    (span,) = memory.get_finished_spans()
    assert content_of(span) == set()
    assert (span.attributes or {})["gen_ai.usage.input_tokens"] == 21
    assert (span.attributes or {})["gen_ai.response.finish_reasons"] == ("stop",)


class Discard(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


class KeepingMoxn(MoxnSpanExporter):
    """The Moxn exporter, keeping what it is given instead of sending it."""

    def __init__(self) -> None:
        super().__init__(api_key="k", base_url="http://127.0.0.1:9")
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def test_the_default_policy_keeps_content_from_third_party_exporters_on_a_user_provider(
    fake: FakeProviders,
) -> None:
    """The provider of opentelemetry-instrument: its exporters came from OTEL_TRACES_EXPORTER."""
    third_party, batched, moxn = InMemorySpanExporter(), Discard(), KeepingMoxn()
    provider = TracerProvider(shutdown_on_exit=False)
    simple = SimpleSpanProcessor(third_party)
    batch = BatchSpanProcessor(batched)
    moxn_processor = SimpleSpanProcessor(moxn)
    for processor in (simple, batch, moxn_processor):
        provider.add_span_processor(processor)
    moxtrace.instrument(tracer_provider=provider)
    call(fake)
    provider.force_flush()

    assert isinstance(simple.span_exporter, WithoutContent)
    assert simple.span_exporter.exporter is third_party
    assert isinstance(batch.span_exporter, WithoutContent)
    assert moxn_processor.span_exporter is moxn  # Moxn gets the content
    (seen,) = third_party.get_finished_spans()
    assert content_of(seen) == set()
    assert content_of(moxn.spans[0]) == CONTENT
    assert content_of(batched.spans[0]) == set()
    assert (seen.attributes or {})["gen_ai.usage.output_tokens"] == 9
    # Instrumenting again does not wrap twice.
    moxtrace.instrument(tracer_provider=provider)
    call(fake)
    assert isinstance(simple.span_exporter, WithoutContent)
    assert simple.span_exporter.exporter is third_party
    moxn.shutdown()
    provider.shutdown()


class Opaque(SpanProcessor):
    """A processor moxtrace cannot see into."""

    def __init__(self) -> None:
        self.ended: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


def test_a_processor_it_cannot_see_into_means_no_content_at_all(
    fake: FakeProviders, caplog: pytest.LogCaptureFixture
) -> None:
    provider = TracerProvider(shutdown_on_exit=False)
    opaque = Opaque()
    provider.add_span_processor(opaque)
    with caplog.at_level(logging.WARNING, "moxtrace.instrumentation"):
        moxtrace.instrument(tracer_provider=provider)
        call(fake)
    (span,) = opaque.ended
    assert content_of(span) == set()
    assert "Opaque" in caplog.text
    assert "content_capture='all' or 'none'" in caplog.text
    provider.shutdown()


def test_a_clients_spans_follow_the_clients_policy(
    fake: FakeProviders, memory: InMemorySpanExporter
) -> None:
    # The client applies the policy to the destinations it adds; its span_processors are
    # the caller's own (as for log_telemetry_event).
    client = SyncMoxnClient(span_processors=[SimpleSpanProcessor(memory)])
    moxtrace.instrument(client)
    call(fake)
    assert content_of(memory.get_finished_spans()[0]) == CONTENT
    moxtrace.instrument(client, content_capture="none")
    call(fake)
    assert content_of(memory.get_finished_spans()[1]) == set()
    client.close()
