"""The whole scaled pipeline into Arize Phoenix: an application's spans go through
``moxtrace serve --queue``, Kafka and ``moxtrace collector`` with the ``redact`` and ``cost``
plugins, and reach Phoenix (the OTLP sink) and the store with secrets masked."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moxtrace.exporters import MoxnSpanExporter
from tests.support.collector import CollectorProcess, create_topics
from tests.support.phoenix import PROJECT_ATTRIBUTE, PhoenixServer, phoenix_spans, span_by_name
from tests.support.server import poll

pytestmark = pytest.mark.integration

CARD = "4111 1111 1111 1111"
EMAIL = "ada@example.com"
API_KEY = "sk-ant-api03-" + "a1B2c3D4e5" * 5
PLUGINS = """
plugins:
  - name: redact
  - name: cost
"""


def application_spans(project: str) -> list[Any]:
    """A support request with an LLM call, traced by a plain OpenTelemetry SDK."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource({"service.name": "support-bot", PROJECT_ATTRIBUTE: project})
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("support-bot")
    with tracer.start_as_current_span("handle ticket") as root:
        root.set_attribute("user.email", EMAIL)
        root.set_attribute("app.config", f"api_key={API_KEY}")
        with tracer.start_as_current_span("chat claude-sonnet-4") as llm:
            llm.set_attribute("gen_ai.operation.name", "chat")
            llm.set_attribute("gen_ai.provider.name", "anthropic")
            llm.set_attribute("gen_ai.request.model", "claude-sonnet-4")
            llm.set_attribute("gen_ai.response.model", "claude-sonnet-4")
            llm.set_attribute("gen_ai.usage.input_tokens", 1000)
            llm.set_attribute("gen_ai.usage.output_tokens", 200)
            llm.set_attribute(
                "gen_ai.input.messages",
                json.dumps(
                    [
                        {
                            "role": "user",
                            "parts": [{"type": "text", "content": f"my card is {CARD}"}],
                        }
                    ]
                ),
            )
    provider.shutdown()
    return list(memory.get_finished_spans())


def test_spans_reach_phoenix_and_the_store_redacted_and_priced(
    kafka_broker: str, phoenix: PhoenixServer, moxtrace_server_factory: Any, tmp_path: Path
) -> None:
    project = f"pipeline-{uuid.uuid4().hex[:8]}"
    topic = create_topics(kafka_broker, 2)
    kafka = f"kafka://{kafka_broker}/{topic}"
    server = moxtrace_server_factory("sqlite", queue=kafka)
    config = tmp_path / "plugins.yaml"
    config.write_text(PLUGINS)
    store = f"sqlite+aiosqlite:///{server.data_dir / 'moxtrace.db'}"
    collector = CollectorProcess(
        tmp_path / "c1",
        kafka=kafka,
        sinks=[f"store:{store}", f"otlp:{phoenix.otlp_traces_endpoint}"],
        group=f"g-{uuid.uuid4().hex[:8]}",
        config=config,
    ).start()
    try:
        spans = application_spans(project)
        exporter = MoxnSpanExporter(api_key=server.api_key, base_url=server.base_url)
        try:
            assert exporter.export(spans) is SpanExportResult.SUCCESS
        finally:
            exporter.shutdown()
        trace_id = format(spans[0].context.trace_id, "032x")
        found = phoenix_spans(phoenix.base_url, project, 2, timeout=60, trace_id=trace_id)
        root = span_by_name(found, "handle ticket")
        llm = span_by_name(found, "chat claude-sonnet-4")
        assert root["attributes"]["user.email"] == "[REDACTED:email]"
        assert API_KEY not in json.dumps(root["attributes"])
        assert llm["parent_id"] == root["context"]["span_id"]
        messages = json.dumps(llm["attributes"])
        assert CARD not in messages and "[REDACTED:card_number]" in messages
        assert llm["attributes"]["moxn.llm.cost.usd"] > 0
        # The store got the same, redacted spans.

        def stored_trace() -> dict[str, Any] | None:
            with server.client() as client:
                response = client.get(f"/traces/{trace_id}")
            data: dict[str, Any] | None = (
                response.json()["data"] if response.status_code == 200 else None
            )
            return data if data and len(data["spans"]) == 2 else None

        trace = poll(stored_trace, timeout=30, what="the trace in the store")
        text = json.dumps(trace)
        assert EMAIL not in text and CARD not in text and API_KEY not in text
        assert "[REDACTED:email]" in text
    finally:
        assert collector.stop() == 0
