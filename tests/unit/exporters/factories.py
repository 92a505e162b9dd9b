"""Prompts and responses the exporter tests build spans from."""

from __future__ import annotations

import uuid
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from moxtrace import Provider
from moxtrace.exporters._batch import EventBatch
from moxtrace.exporters.events import span_to_wire
from moxtrace.types import CompletionConfig, Message, MessageRole, PromptTemplate, TextContent
from moxtrace.types import Variable as VariableBlock

ANTHROPIC_RESPONSE: dict[str, Any] = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4",
    "content": [
        {"type": "text", "text": "Your order ships tomorrow."},
        {"type": "tool_use", "id": "tu_1", "name": "lookup", "input": {"order": "o1"}},
    ],
    "stop_reason": "tool_use",
    "usage": {"input_tokens": 20, "output_tokens": 14, "cache_read_input_tokens": 100},
}


def make_prompt(*, commit_id: str | None = None) -> PromptTemplate:
    """A two-message prompt on a branch (or at ``commit_id``)."""
    return PromptTemplate(
        id=uuid.uuid4(),
        name="support-answer",
        task_id=uuid.uuid4(),
        branch_id=uuid.uuid4(),
        branch_name="main",
        commit_id=commit_id,
        messages=[
            Message(
                id=uuid.uuid4(),
                name="system",
                role=MessageRole.SYSTEM,
                blocks=[[TextContent(text="You are a helpful support agent.")]],
            ),
            Message(
                id=uuid.uuid4(),
                name="user",
                role=MessageRole.USER,
                blocks=[[TextContent(text="Question: "), VariableBlock(name="query")]],
            ),
        ],
        completion_config=CompletionConfig(provider=Provider.ANTHROPIC, model="claude-sonnet-4"),
    )


def finished(memory: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    """The finished spans by name."""
    return {span.name: span for span in memory.get_finished_spans()}


def readable_span(
    index: int = 0,
    *,
    trace_id: int = 0x0AF7651916CD43DD8448EB211C80319C,
    parent: int | None = None,
    content: str | None = None,
    llm: bool = True,
    extra: dict[str, Any] | None = None,
) -> ReadableSpan:
    """A finished span as the SDK hands it to an exporter; ``content`` becomes
    ``gen_ai.input.messages`` (JSON text) when given; ``extra`` attributes are added."""
    attrs: dict[str, Any] = {"moxn.metadata.index": index}
    if llm:
        attrs.update(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "anthropic",
                "gen_ai.request.model": "claude-sonnet-4",
                "gen_ai.usage.input_tokens": 10 + index,
            }
        )
    if content is not None:
        attrs["gen_ai.input.messages"] = content
    attrs.update(extra or {})
    start = 1_700_000_000_000_000_000 + index * 1_000_000
    return ReadableSpan(
        name=f"span-{index}",
        context=SpanContext(trace_id, 0x1000 + index, is_remote=False, trace_flags=TraceFlags(1)),
        parent=SpanContext(trace_id, parent, is_remote=False) if parent is not None else None,
        attributes=attrs,
        kind=SpanKind.INTERNAL,
        status=Status(StatusCode.OK),
        start_time=start,
        end_time=start + 500_000,
    )


def wire_events(spans: int, *, first: int = 0) -> list[dict[str, Any]]:
    """The wire events of ``spans`` LLM spans (three events each)."""
    return [e for i in range(first, first + spans) for e in span_to_wire(readable_span(i))]


def batch_of(spans: int, *, first: int = 0, key: str = "k") -> EventBatch:
    """An ``EventBatch`` of ``spans`` spans (three events each)."""
    return EventBatch.of(wire_events(spans, first=first), key)
