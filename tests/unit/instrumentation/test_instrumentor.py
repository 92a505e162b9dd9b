"""The OpenTelemetry entry points: the instrumentor, the propagator and the exporter ``moxn``."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

import openai
import pytest
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moxtrace.exporters import MoxnSpanExporter
from moxtrace.instrumentation import instrumented
from moxtrace.instrumentation.instrumentor import MoxnInstrumentor
from moxtrace.tracing.propagation import MoxnPropagator
from tests.unit.instrumentation.conftest import FakeProviders

MESSAGES = [{"role": "user", "content": "Where is my order?"}]


def test_the_three_entry_points_named_moxn_load() -> None:
    found = {
        group: {e.name: e for e in entry_points(group=group)}
        for group in (
            "opentelemetry_instrumentor",
            "opentelemetry_propagator",
            "opentelemetry_traces_exporter",
        )
    }
    instrumentor = found["opentelemetry_instrumentor"]["moxn"].load()
    assert instrumentor is MoxnInstrumentor and issubclass(instrumentor, BaseInstrumentor)
    propagator = found["opentelemetry_propagator"]["moxn"].load()
    assert propagator is MoxnPropagator and issubclass(propagator, TextMapPropagator)
    exporter = found["opentelemetry_traces_exporter"]["moxn"].load()
    assert exporter is MoxnSpanExporter and issubclass(exporter, SpanExporter)


def test_the_instrumentor_uses_the_tracer_provider_it_is_given(
    fake: FakeProviders, memory: InMemorySpanExporter, provider: TracerProvider
) -> None:
    Completions = openai.resources.chat.completions.Completions
    pristine = vars(Completions)["create"]
    instrumentor = MoxnInstrumentor()
    assert instrumentor.instrumentation_dependencies() == ()
    instrumentor.instrument(tracer_provider=provider, content_capture="none")
    try:
        assert instrumented() == ("anthropic", "openai", "google_genai")
        fake.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        (span,) = memory.get_finished_spans()
        assert span.name == "chat gpt-4o-mini"
        assert "gen_ai.input.messages" not in (span.attributes or {})
    finally:
        instrumentor.uninstrument()
    assert instrumented() == ()
    assert vars(Completions)["create"] is pristine


def test_the_instrumentor_never_raises_into_the_application(
    caplog: pytest.LogCaptureFixture,
) -> None:
    instrumentor = MoxnInstrumentor()
    with caplog.at_level(logging.ERROR, "moxtrace.instrumentation"):
        instrumentor.instrument(content_capture="sometimes")
    try:
        assert "instrumenting the provider SDKs failed" in caplog.text
        assert instrumented() == ()
    finally:
        instrumentor.uninstrument()
