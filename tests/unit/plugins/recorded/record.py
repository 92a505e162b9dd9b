"""Record the spans other instrumentations emit for an LLM call, as JSON fixtures.

Not a test: run it by hand in a scratch virtualenv holding the instrumentation, the
provider SDK and the OTel SDK (never moxtrace's own venv), for example::

    python3.11 -m venv /tmp/rec && /tmp/rec/bin/pip install openai anthropic \
        openinference-instrumentation-openai openinference-instrumentation-anthropic \
        opentelemetry-instrumentation-openai opentelemetry-instrumentation-anthropic
    /tmp/rec/bin/python tests/unit/plugins/recorded/record.py openinference openai \
        > tests/unit/plugins/recorded/openinference_openai.json

The provider is never called: the SDK's httpx client gets an ``httpx.MockTransport``
answering with a canned response shaped like the provider's API, so the spans are
exactly what the instrumentation records for such a call. The output is one JSON
document: the instrumentation's package versions and the finished spans (name, kind,
status, attributes with their JSON types, events, scope).
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

SECRET_IN_PROMPT = "my key is sk-proj-abcdefghijklmnopqrstuvwxyz0123456789 and mail bob@example.com"

OPENAI_RESPONSE = {
    "id": "chatcmpl-AbC123",
    "object": "chat.completion",
    "created": 1735000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Your order ships tomorrow.",
                "refusal": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "track_order", "arguments": '{"order_id": "42"}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
            "logprobs": None,
        }
    ],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 80,
        "total_tokens": 1280,
        "prompt_tokens_details": {"cached_tokens": 1000, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    },
    "system_fingerprint": "fp_1",
}

ANTHROPIC_RESPONSE = {
    "id": "msg_01XyZ",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [{"type": "text", "text": "Your order ships tomorrow."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 200,
        "output_tokens": 50,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 300,
    },
}


def _http_client(sdk: Any, body: dict[str, Any]) -> Any:
    """An in-process HTTP client of the library ``sdk`` is built on (httpx2, or httpx)."""
    http: Any = getattr(sdk._base_client, "httpx2", None) or sdk._base_client.httpx

    def handler(request: Any) -> Any:
        return http.Response(200, json=body, headers={"content-type": "application/json"})

    return http.Client(transport=http.MockTransport(handler))


def _instrument(library: str, provider: str, tracer_provider: TracerProvider) -> str:
    if library == "openinference" and provider == "openai":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OI

        OI().instrument(tracer_provider=tracer_provider)
        return "openinference-instrumentation-openai"
    if library == "openinference" and provider == "anthropic":
        from openinference.instrumentation.anthropic import AnthropicInstrumentor as AI

        AI().instrument(tracer_provider=tracer_provider)
        return "openinference-instrumentation-anthropic"
    if library == "openllmetry" and provider == "openai":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as LO

        LO().instrument(tracer_provider=tracer_provider)
        return "opentelemetry-instrumentation-openai"
    if library == "openllmetry" and provider == "anthropic":
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor as LA

        LA().instrument(tracer_provider=tracer_provider)
        return "opentelemetry-instrumentation-anthropic"
    raise SystemExit(f"unknown library/provider {library}/{provider}")


def _call(provider: str) -> None:
    if provider == "openai":
        import openai

        client = openai.OpenAI(
            api_key="sk-test",
            base_url="http://llm.invalid/v1",
            http_client=_http_client(openai, OPENAI_RESPONSE),
        )
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "You are a support agent."},
                {"role": "user", "content": SECRET_IN_PROMPT},
            ],
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": "track_order",
                        "description": "Track an order",
                        "parameters": {
                            "type": "object",
                            "properties": {"order_id": {"type": "string"}},
                        },
                    },
                }
            ],
            temperature=0.2,
            max_tokens=256,
        )
    else:
        import anthropic

        client_a = anthropic.Anthropic(
            api_key="sk-ant-test",
            base_url="http://llm.invalid",
            http_client=_http_client(anthropic, ANTHROPIC_RESPONSE),
        )
        client_a.messages.create(
            model="claude-sonnet-4-5-20250929",
            system="You are a support agent.",
            messages=[{"role": "user", "content": SECRET_IN_PROMPT}],
            max_tokens=256,
        )


def _span_json(span: ReadableSpan) -> dict[str, Any]:
    return {
        "name": span.name,
        "kind": span.kind.name,
        "status": span.status.status_code.name,
        "attributes": {
            k: list(v) if isinstance(v, tuple) else v for k, v in (span.attributes or {}).items()
        },
        "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
    }


def main() -> None:
    library, provider = sys.argv[1], sys.argv[2]
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    package = _instrument(library, provider, tracer_provider)
    _call(provider)
    tracer_provider.shutdown()
    sdk = "openai" if provider == "openai" else "anthropic"
    document = {
        "recorded_with": {package: version(package), sdk: version(sdk)},
        "spans": [_span_json(span) for span in exporter.get_finished_spans()],
    }
    json.dump(document, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
