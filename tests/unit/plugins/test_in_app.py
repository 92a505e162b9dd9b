"""The plugins inside an application: ``PluginSpanExporter`` and ``PluginSpanProcessor``
on a real ``TracerProvider``, with moxtrace's client and with a chain from a file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from collector_plugins import CostPlugin, GenAINormalizePlugin, RedactPlugin, TailSamplingPlugin
from collector_plugins.cost import COST_USD
from moxtrace import PromptSession, Provider, SyncMoxnClient
from moxtrace.pipeline import PluginSpanExporter, PluginSpanProcessor
from moxtrace.pipeline.config import load_plugins
from tests.unit.exporters.factories import ANTHROPIC_RESPONSE

SECRET = "sk-ant-api03-Abc123def456GHI789jkl012MNO345pqr678"


def test_exporter_wrapper_redacts_prices_and_samples_an_apps_spans() -> None:
    memory = InMemorySpanExporter()
    plugins = [
        RedactPlugin(),
        CostPlugin(),
        TailSamplingPlugin(decision_wait=3600, sample_rate=0.0),
    ]
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(PluginSpanExporter(memory, plugins)))
    tracer = provider.get_tracer("app")

    with tracer.start_as_current_span("handle") as root:
        root.set_attribute("user.note", f"token {SECRET}")
        with tracer.start_as_current_span("llm") as llm:
            llm.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "claude-haiku-4-5",
                    "gen_ai.usage.input_tokens": 1000,
                    "gen_ai.usage.output_tokens": 100,
                }
            )
    with tracer.start_as_current_span("boring"):
        pass
    with tracer.start_as_current_span("fails") as failing:
        with tracer.start_as_current_span("child"):
            pass
        failing.set_status(Status(StatusCode.ERROR, "bad input from ann@example.com"))

    # Tail sampling holds every trace until it decides. The SDK's BatchSpanProcessor does
    # not pass force_flush on to its exporter: shutdown releases what is held.
    assert provider.force_flush(10_000)
    assert memory.get_finished_spans() == ()
    provider.shutdown()
    spans = {s.name: s for s in memory.get_finished_spans()}
    assert set(spans) == {"handle", "llm", "fails", "child"}  # whole traces; "boring" dropped
    assert spans["handle"].attributes["user.note"] == "token [REDACTED:anthropic_api_key]"
    # claude-haiku-4-5: 1000 * $1 + 100 * $5 per MTok.
    assert spans["llm"].attributes[COST_USD] == pytest.approx(0.0015)
    assert spans["fails"].status.description == "bad input from [REDACTED:email]"


def test_processor_wrapper_releases_held_traces_on_force_flush() -> None:
    memory = InMemorySpanExporter()
    sampler = TailSamplingPlugin(decision_wait=3600, sample_rate=0.0)
    provider = TracerProvider()
    provider.add_span_processor(PluginSpanProcessor(BatchSpanProcessor(memory), [sampler]))
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("kept") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        with tracer.start_as_current_span("kept-child"):
            pass
    with tracer.start_as_current_span("dropped"):
        pass
    assert provider.force_flush(10_000)
    assert sorted(s.name for s in memory.get_finished_spans()) == ["kept", "kept-child"]
    assert sampler.counts()["traces_dropped"] == 1
    provider.shutdown()


def test_processor_wrapper_sees_each_span_redacted() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(PluginSpanProcessor(SimpleSpanProcessor(memory), [RedactPlugin()]))
    with provider.get_tracer("app").start_as_current_span("login") as span:
        span.set_attribute("http.request.header.authorization", ["Bearer abc"])
        span.add_event("retry", {"why": "mail ann@example.com"})
    [got] = memory.get_finished_spans()
    assert got.attributes["http.request.header.authorization"] == ("[REDACTED:attribute]",)
    assert got.events[0].attributes == {"why": "mail [REDACTED:email]"}
    provider.shutdown()


def test_moxtrace_llm_spans_through_a_chain_loaded_from_a_file(
    tmp_path: Path, make_session: Callable[..., PromptSession]
) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text('[[plugins]]\nname = "redact"\n\n[[plugins]]\nname = "cost"\n')
    memory = InMemorySpanExporter()
    client = SyncMoxnClient(
        content_capture="all",
        span_processors=[SimpleSpanProcessor(PluginSpanExporter(memory, load_plugins(config)))],
    )
    session = PromptSession(
        make_session().prompt, {"query": f"My card is 4111 1111 1111 1111, key {SECRET}"}
    )
    with client.span(session, name="answer"):
        client.log_telemetry_event_from_response(session, ANTHROPIC_RESPONSE, Provider.ANTHROPIC)
    client.close()
    [span] = [s for s in memory.get_finished_spans() if "gen_ai.operation.name" in s.attributes]
    messages = json.loads(span.attributes["gen_ai.input.messages"])
    text = json.dumps(messages)
    assert "[REDACTED:card_number]" in text and "[REDACTED:anthropic_api_key]" in text
    assert "4111" not in text and SECRET not in text
    # claude-sonnet-4, 120 input (100 cached) and 14 output:
    # 20 * $3 + 100 * $0.30 + 14 * $15 per MTok = 60 + 30 + 210 = 300 µ$.
    assert span.attributes["gen_ai.usage.input_tokens"] == 120
    assert span.attributes[COST_USD] == pytest.approx(0.0003)


def test_other_instrumentations_llm_spans_are_normalized_in_the_app() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(PluginSpanExporter(memory, [GenAINormalizePlugin(), CostPlugin()]))
    )
    with provider.get_tracer("openinference.instrumentation.openai").start_as_current_span(
        "ChatCompletion"
    ) as span:
        span.set_attributes(
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-2024-08-06",
                "llm.token_count.prompt": 1000,
                "llm.token_count.completion": 100,
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "hi",
            }
        )
    [got] = memory.get_finished_spans()
    assert got.attributes["gen_ai.operation.name"] == "chat"
    # gpt-4o: 1000 * $2.50 + 100 * $10 per MTok = 0.0035.
    assert got.attributes[COST_USD] == pytest.approx(0.0035)
    provider.shutdown()
