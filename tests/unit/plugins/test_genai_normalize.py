"""``genai_normalize`` on spans recorded from OpenInference and OpenLLMetry (see
``recorded/``), older GenAI conventions, and spans that need nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.sdk.trace import Event, ReadableSpan

from collector_plugins.cost import COST_USD, CostPlugin
from collector_plugins.genai_normalize import GenAINormalizePlugin, finish_reason, provider_name
from moxtrace.exporters.events import span_to_wire
from moxtrace.pipeline.config import PluginOptionError
from moxtrace.pipeline.plugin import PluginChain
from tests.unit.plugins.spans import make_span, recorded

PROMPT = "my key is sk-proj-abcdefghijklmnopqrstuvwxyz0123456789 and mail bob@example.com"
INPUT_WITH_SYSTEM = [
    {"role": "system", "parts": [{"type": "text", "content": "You are a support agent."}]},
    {"role": "user", "parts": [{"type": "text", "content": PROMPT}]},
]
OPENAI_OUTPUT = [
    {
        "role": "assistant",
        "parts": [
            {"type": "text", "content": "Your order ships tomorrow."},
            {
                "type": "tool_call",
                "id": "call_1",
                "name": "track_order",
                "arguments": {"order_id": "42"},
            },
        ],
        "finish_reason": "tool_call",
    }
]
ANTHROPIC_OUTPUT = [
    {
        "role": "assistant",
        "parts": [{"type": "text", "content": "Your order ships tomorrow."}],
        "finish_reason": "stop",
    }
]
TOOLS = [
    {
        "type": "function",
        "name": "track_order",
        "description": "Track an order",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
    }
]


def normalized(name: str, **options: Any) -> tuple[ReadableSpan, dict[str, Any]]:
    _, [span] = recorded(name)
    [out] = GenAINormalizePlugin(**options).process([span])
    return out, dict(out.attributes or {})


def content(attrs: dict[str, Any], name: str) -> Any:
    return json.loads(attrs[f"gen_ai.{name}"])


def llm_event(span: ReadableSpan) -> dict[str, Any]:
    [event] = [e for e in span_to_wire(span) if e["event_type"] == "llm_call"]
    return event


def test_openinference_openai_span() -> None:
    span, attrs = normalized("openinference_openai")
    expected = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": "chatcmpl-AbC123",
        "gen_ai.response.finish_reasons": ("tool_call",),
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 80,
        "gen_ai.usage.cache_read.input_tokens": 1000,
        "gen_ai.usage.reasoning.output_tokens": 0,
        "gen_ai.request.max_tokens": 256,
        "gen_ai.request.temperature": 0.2,
    }
    assert {k: attrs.get(k) for k in expected} == expected
    assert content(attrs, "input.messages") == INPUT_WITH_SYSTEM
    assert content(attrs, "output.messages") == OPENAI_OUTPUT
    assert content(attrs, "tool.definitions") == TOOLS
    # The source attributes stay (Phoenix reads them).
    assert attrs["llm.input_messages.1.message.content"] == PROMPT
    assert attrs["openinference.span.kind"] == "LLM"

    event = llm_event(span)
    assert event["system_metadata"]["provider"] == "openai"
    assert event["system_metadata"]["usage"]["input_tokens"] == 1200
    assert event["system_metadata"]["tool_call_count"] == 1
    assert event["content"]["input_messages"] == INPUT_WITH_SYSTEM


def test_openinference_anthropic_span_then_cost() -> None:
    _, [span] = recorded("openinference_anthropic")
    [out] = PluginChain([GenAINormalizePlugin(), CostPlugin()]).process([span])
    attrs = dict(out.attributes or {})
    expected = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5-20250929",
        "gen_ai.response.model": "claude-sonnet-4-5-20250929",
        "gen_ai.response.id": "msg_01XyZ",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 1500,
        "gen_ai.usage.output_tokens": 50,
        "gen_ai.usage.cache_read.input_tokens": 1000,
        "gen_ai.usage.cache_creation.input_tokens": 300,
        "gen_ai.request.max_tokens": 256,
    }
    assert {k: attrs.get(k) for k in expected} == expected
    assert content(attrs, "input.messages") == INPUT_WITH_SYSTEM
    assert content(attrs, "output.messages") == ANTHROPIC_OUTPUT
    # 200 uncached * $3 + 1000 read * $0.30 + 300 written * $3.75 + 50 out * $15, per MTok.
    assert attrs[COST_USD] == pytest.approx(0.002775)
    assert llm_event(out)["system_metadata"]["response_model"] == "claude-sonnet-4-5-20250929"


def test_openllmetry_legacy_openai_span() -> None:
    span, attrs = normalized("openllmetry_legacy_openai")
    expected = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.finish_reasons": ("tool_call",),
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 80,
        "gen_ai.usage.cache_read.input_tokens": 1000,
        "gen_ai.usage.reasoning.output_tokens": 0,
    }
    assert {k: attrs.get(k) for k in expected} == expected
    assert content(attrs, "input.messages") == INPUT_WITH_SYSTEM
    assert content(attrs, "output.messages") == OPENAI_OUTPUT
    assert content(attrs, "tool.definitions") == TOOLS
    assert llm_event(span)["system_metadata"]["usage"]["cache_read_input_tokens"] == 1000


def test_openllmetry_legacy_anthropic_span() -> None:
    span, attrs = normalized("openllmetry_legacy_anthropic")
    expected = {
        "gen_ai.operation.name": "chat",  # llm.request.type "completion" on anthropic.chat
        "gen_ai.provider.name": "anthropic",  # gen_ai.system "Anthropic"
        "gen_ai.usage.input_tokens": 1500,
        "gen_ai.usage.output_tokens": 50,
        "gen_ai.usage.cache_read.input_tokens": 1000,
        "gen_ai.usage.cache_creation.input_tokens": 300,
        "gen_ai.response.finish_reasons": ("stop",),
    }
    assert {k: attrs.get(k) for k in expected} == expected
    assert content(attrs, "input.messages") == INPUT_WITH_SYSTEM
    assert content(attrs, "output.messages") == ANTHROPIC_OUTPUT
    assert llm_event(span)["system_metadata"]["provider"] == "anthropic"


def test_current_openllmetry_spans_only_get_renamed_usage() -> None:
    _, [span] = recorded("openllmetry_openai")
    [out] = GenAINormalizePlugin().process([span])
    added = set(out.attributes or {}) - set(span.attributes or {})
    assert added == {"gen_ai.usage.reasoning.output_tokens"}
    _, [anthropic] = recorded("openllmetry_anthropic")
    assert GenAINormalizePlugin().process([anthropic])[0] is anthropic


def test_spans_that_need_nothing_are_the_same_objects() -> None:
    spans = [
        make_span({"http.route": "/x"}),
        make_span({"openinference.span.kind": "CHAIN", "input.value": "hi"}),
        make_span(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "anthropic",
                "gen_ai.usage.input_tokens": 3,
                "gen_ai.input.messages": "[]",
            }
        ),
    ]
    plugin = GenAINormalizePlugin()
    assert [a is b for a, b in zip(plugin.process(spans), spans, strict=True)] == [True] * 3
    assert plugin.counts() == {"normalized": 0}


def test_normalizing_twice_changes_nothing_more() -> None:
    _, [span] = recorded("openllmetry_legacy_openai")
    plugin = GenAINormalizePlugin()
    [once] = plugin.process([span])
    assert plugin.process([once])[0] is once
    assert plugin.counts() == {"normalized": 1}


def test_older_genai_conventions_with_content_in_span_events() -> None:
    prompt = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    completion = [{"role": "assistant", "content": "Bye", "finish_reason": "stop"}]
    span = make_span(
        {
            "gen_ai.system": "vertex_ai",
            "gen_ai.request.model": "gemini-1.5-pro",
            "gen_ai.usage.prompt_tokens": 10,
            "gen_ai.usage.completion_tokens": 2,
        },
        events=[
            Event("gen_ai.content.prompt", {"gen_ai.prompt": json.dumps(prompt)}, 1),
            Event("gen_ai.content.completion", {"gen_ai.completion": json.dumps(completion)}, 2),
        ],
    )
    [out] = GenAINormalizePlugin().process([span])
    attrs = dict(out.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (10, 2)
    assert content(attrs, "input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}]},
    ]
    assert content(attrs, "output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Bye"}],
            "finish_reason": "stop",
        }
    ]
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)


def test_per_message_events_and_choice_events() -> None:
    span = make_span(
        {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "x"},
        events=[
            Event(
                "gen_ai.system.message",
                {"gen_ai.event.content": json.dumps({"content": "Be brief"})},
            ),
            Event("gen_ai.user.message", {"content": "Weather?"}),
            Event(
                "gen_ai.choice",
                {
                    "gen_ai.event.content": json.dumps(
                        {
                            "index": 0,
                            "finish_reason": "tool_calls",
                            "message": {
                                "role": "assistant",
                                "tool_calls": [
                                    {
                                        "id": "c1",
                                        "type": "function",
                                        "function": {
                                            "name": "weather",
                                            "arguments": '{"city":"Oslo"}',
                                        },
                                    }
                                ],
                            },
                        }
                    )
                },
            ),
        ],
    )
    attrs = dict(GenAINormalizePlugin().process([span])[0].attributes or {})
    assert attrs["gen_ai.provider.name"] == "openai"
    assert content(attrs, "input.messages") == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather?"}]},
    ]
    assert content(attrs, "output.messages") == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "c1", "name": "weather", "arguments": {"city": "Oslo"}}
            ],
            "finish_reason": "tool_call",
        }
    ]


def test_openllmetry_anthropic_block_content_and_tool_results() -> None:
    blocks = [
        {"type": "text", "text": "Look this up"},
        {"type": "tool_result", "tool_use_id": "tu_1", "content": "42 items"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
    ]
    span = make_span(
        {
            "gen_ai.system": "Anthropic",
            "llm.request.type": "completion",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": json.dumps(blocks),
            "gen_ai.prompt.1.role": "tool",
            "gen_ai.prompt.1.content": "sunny",
            "gen_ai.prompt.1.tool_call_id": "tu_2",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": json.dumps(
                [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "Done"}]
            ),
            "gen_ai.completion.0.finish_reason": "max_tokens",
        },
        name="anthropic.chat",
    )
    attrs = dict(GenAINormalizePlugin().process([span])[0].attributes or {})
    assert content(attrs, "input.messages") == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "Look this up"},
                {"type": "tool_call_response", "id": "tu_1", "response": "42 items"},
                {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBO"},
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "tu_2", "response": "sunny"}],
        },
    ]
    assert content(attrs, "output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "hmm"}, {"type": "text", "content": "Done"}],
            "finish_reason": "length",
        }
    ]


def test_drop_source_attributes() -> None:
    _, attrs = normalized("openinference_openai", drop_source_attributes=True)
    assert not [k for k in attrs if k.startswith("llm.input_messages.")]
    # What was translated goes; what has no current name (audio token details) stays.
    assert sorted(k for k in attrs if k.startswith("llm.token_count.")) == [
        "llm.token_count.completion_details.audio",
        "llm.token_count.prompt_details.audio",
    ]
    assert "llm.model_name" not in attrs and "llm.invocation_parameters" not in attrs
    assert attrs["gen_ai.usage.input_tokens"] == 1200
    _, legacy = normalized("openllmetry_legacy_openai", drop_source_attributes=True)
    assert not [k for k in legacy if k.startswith(("gen_ai.prompt.", "gen_ai.completion."))]
    assert "gen_ai.system" not in legacy and "gen_ai.usage.prompt_tokens" not in legacy


def test_content_is_cut_to_size_as_valid_json_or_left_out() -> None:
    _, attrs = normalized("openinference_openai", max_content_length=100)
    assert len(attrs["gen_ai.input.messages"]) <= 100
    json.loads(attrs["gen_ai.input.messages"])
    assert attrs["moxn.truncated"] is True
    _, bare = normalized("openinference_openai", content=False)
    assert "gen_ai.input.messages" not in bare
    assert bare["gen_ai.usage.input_tokens"] == 1200


def test_odd_spans_never_raise() -> None:
    spans = [
        make_span({"openinference.span.kind": "LLM", "llm.token_count.prompt": "many"}),
        make_span(
            {
                "openinference.span.kind": "llm",
                "llm.input_messages.0.message.content": ("not", "a string"),
                "llm.input_messages.x.message.role": "user",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": "{bad",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "f",
                "llm.invocation_parameters": "[1, 2]",
                "llm.tools.0.tool.json_schema": "nope",
            }
        ),
        make_span({"gen_ai.system": "", "gen_ai.prompt": "{not json"}),
        make_span({"openinference.span.kind": "EMBEDDING", "llm.model_name": 7}),
    ]
    out = GenAINormalizePlugin().process(spans)
    assert out[0].attributes["gen_ai.operation.name"] == "chat"
    assert "gen_ai.usage.input_tokens" not in out[0].attributes
    second = dict(out[1].attributes or {})
    assert content(second, "output.messages")[0]["parts"] == [
        {"type": "tool_call", "id": None, "name": "f", "arguments": "{bad"}
    ]
    assert out[3].attributes["gen_ai.operation.name"] == "embeddings"


def test_provider_and_finish_reason_mapping() -> None:
    assert provider_name("MistralAI") == "mistral_ai"
    assert provider_name("google", "vertexai") == "gcp.vertex_ai"
    assert provider_name("google") == "gcp.gemini"
    assert provider_name("az.ai.openai") == "azure.ai.openai"
    assert provider_name("SomethingNew") == "somethingnew"
    assert [finish_reason(r) for r in ("end_turn", "MAX_TOKENS", "tool_use", "SAFETY")] == [
        "stop",
        "length",
        "tool_call",
        "content_filter",
    ]


def test_bad_options_name_the_option() -> None:
    with pytest.raises(PluginOptionError) as info:
        GenAINormalizePlugin(max_content_length=10)
    assert info.value.option == "max_content_length"


def test_spans_of_the_otel_contrib_openai_instrumentation_need_nothing_and_get_a_cost() -> None:
    """Live: opentelemetry-instrumentation-openai-v2 (dev extra) on the real OpenAI SDK,
    answered in-process; its spans already follow the current conventions."""
    import httpx2
    import openai
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tests.unit.plugins.recorded.record import OPENAI_RESPONSE

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = openai.OpenAI(
            api_key="sk-test",
            base_url="http://llm.invalid/v1",
            http_client=httpx2.Client(
                transport=httpx2.MockTransport(lambda _: httpx2.Response(200, json=OPENAI_RESPONSE))
            ),
        )
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=10
        )
    finally:
        instrumentor.uninstrument()
    [span] = memory.get_finished_spans()
    assert GenAINormalizePlugin().process([span])[0] is span
    [priced] = CostPlugin().process([span])
    # gpt-4o-mini, 1200 input and 80 output (this instrumentation records no cache count):
    # 1200 * $0.15 + 80 * $0.60 per MTok = 180 + 48 = 228 µ$.
    assert priced.attributes[COST_USD] == pytest.approx(0.000228)
