"""Export to a real OTLP backend: MoxnClient(otlp_endpoint=...) into Arize Phoenix.

Spans are read back through Phoenix's REST API (polling: Phoenix answers the export
before it stores). Each test writes to a project of its own, named by the resource
attribute ``openinference.project.name`` (from ``OTEL_RESOURCE_ATTRIBUTES``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from moxtrace import MoxnClient, PromptSession, Provider, SyncMoxnClient
from tests.support.phoenix import PROJECT_ATTRIBUTE, PhoenixServer, phoenix_spans, span_by_name
from tests.unit.exporters.factories import ANTHROPIC_RESPONSE, make_prompt

pytestmark = pytest.mark.integration


@pytest.fixture
def project(monkeypatch: pytest.MonkeyPatch) -> str:
    """A Phoenix project of this test's own, set on moxtrace's resource."""
    name = f"exporter-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"{PROJECT_ATTRIBUTE}={name}")
    for var in ("MOXN_API_KEY", "MOXN_CONTENT_CAPTURE", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    return name


def traced_call(client: SyncMoxnClient) -> tuple[str, str, str]:
    """A span with an LLM call and a child span; (trace id, parent id, child id)."""
    session = PromptSession(make_prompt(), {"query": "Where is my order?"})
    with client.span(session, name="answer", metadata={"customer_id": "c1"}) as parent:
        client.log_telemetry_event_from_response(session, ANTHROPIC_RESPONSE, Provider.ANTHROPIC)
        with client.span(session, name="post-process") as child:
            pass
    ctx, child_ctx = parent.get_span_context(), child.get_span_context()
    return (
        format(ctx.trace_id, "032x"),
        format(ctx.span_id, "016x"),
        format(child_ctx.span_id, "016x"),
    )


def read_back(phoenix: PhoenixServer, project: str, trace_id: str) -> dict[str, dict[str, Any]]:
    spans = phoenix_spans(phoenix.base_url, project, min_count=2, timeout=60, trace_id=trace_id)
    return {name: span_by_name(spans, name) for name in ("answer", "post-process")}


def test_spans_reach_phoenix_with_genai_attributes_and_parentage_without_content(
    phoenix: PhoenixServer, project: str
) -> None:
    client = SyncMoxnClient(otlp_endpoint=phoenix.base_url)
    assert list(client.destinations) == ["otlp"]
    trace_id, parent_id, child_id = traced_call(client)
    assert client.flush(30).complete
    assert client.export_stats("otlp").exported == 2
    client.close()

    spans = read_back(phoenix, project, trace_id)
    answer, child = spans["answer"], spans["post-process"]
    assert answer["context"] == {"trace_id": trace_id, "span_id": parent_id}
    assert answer["parent_id"] is None
    assert child["context"] == {"trace_id": trace_id, "span_id": child_id}
    assert child["parent_id"] == parent_id

    attrs = answer["attributes"]
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.request.model"] == "claude-sonnet-4"
    assert attrs["gen_ai.response.id"] == "msg_01"
    assert attrs["gen_ai.usage.input_tokens"] == 120
    assert attrs["gen_ai.usage.output_tokens"] == 14
    assert attrs["moxn.prompt.name"] == "support-answer"
    assert attrs["moxn.metadata.customer_id"] == "c1"
    # The default content policy: message content stays with Moxn.
    for name in (
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
    ):
        assert name not in attrs
    assert "Where is my order?" not in json.dumps(answer)


async def test_content_capture_all_sends_content_to_phoenix(
    phoenix: PhoenixServer, project: str
) -> None:
    client = MoxnClient(otlp_endpoint=phoenix.otlp_traces_endpoint, content_capture="all")
    session = PromptSession(make_prompt(), {"query": "Where is my order?"})
    async with client.span(session, name="answer") as span:
        await client.log_telemetry_event_from_response(
            session, ANTHROPIC_RESPONSE, Provider.ANTHROPIC
        )
    await client.close()
    trace_id = format(span.get_span_context().trace_id, "032x")

    spans = phoenix_spans(phoenix.base_url, project, min_count=1, timeout=60, trace_id=trace_id)
    attrs = span_by_name(spans, "answer")["attributes"]
    messages = attrs["gen_ai.input.messages"]
    if isinstance(messages, str):
        messages = json.loads(messages)
    assert messages == [
        {"role": "user", "parts": [{"type": "text", "content": "Question: Where is my order?"}]}
    ]
    assert "gen_ai.output.messages" in attrs
    assert "gen_ai.system_instructions" in attrs
