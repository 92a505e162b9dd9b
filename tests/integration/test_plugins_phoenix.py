"""An application's spans through ``PluginSpanExporter([redact, ...])`` around the stock
OTLP exporter, into a real Arize Phoenix: the masked values are what Phoenix stores."""

from __future__ import annotations

import json
import uuid

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from collector_plugins import CostPlugin, RedactPlugin
from collector_plugins.cost import COST_USD
from moxtrace.pipeline import PluginSpanExporter
from tests.support.phoenix import PROJECT_ATTRIBUTE, PhoenixServer, phoenix_spans, span_by_name

pytestmark = pytest.mark.integration

SECRET = "sk-proj-Abc123def456GHI789jkl012MNO345pqr678"


def test_redacted_values_reach_phoenix_masked(phoenix: PhoenixServer) -> None:
    project = f"plugins-{uuid.uuid4().hex[:12]}"
    exporter = PluginSpanExporter(
        OTLPSpanExporter(endpoint=phoenix.otlp_traces_endpoint, timeout=10),
        [RedactPlugin(), CostPlugin()],
    )
    provider = TracerProvider(resource=Resource({PROJECT_ATTRIBUTE: project}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("app")
    messages = [{"role": "user", "parts": [{"type": "text", "content": "I am ann@example.com"}]}]
    with tracer.start_as_current_span("answer") as root:
        root.set_attribute("app.note", f"called with key {SECRET}")
        with tracer.start_as_current_span("chat claude-haiku-4-5") as llm:
            llm.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "claude-haiku-4-5",
                    "gen_ai.usage.input_tokens": 1000,
                    "gen_ai.usage.output_tokens": 100,
                    "gen_ai.input.messages": json.dumps(messages),
                }
            )
    trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()

    spans = phoenix_spans(phoenix.base_url, project, min_count=2, timeout=60, trace_id=trace_id)
    answer = span_by_name(spans, "answer")["attributes"]
    llm_attrs = span_by_name(spans, "chat claude-haiku-4-5")["attributes"]
    assert answer["app.note"] == "called with key [REDACTED:openai_api_key]"
    stored = llm_attrs["gen_ai.input.messages"]
    if isinstance(stored, str):
        stored = json.loads(stored)
    assert stored == [
        {"role": "user", "parts": [{"type": "text", "content": "I am [REDACTED:email]"}]}
    ]
    assert llm_attrs[COST_USD] == pytest.approx(0.0015)  # 1000 * $1 + 100 * $5 per MTok
    everything = json.dumps(spans)
    assert SECRET not in everything
    assert "ann@example.com" not in everything
