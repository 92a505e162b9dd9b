"""Prompts and responses the exporter tests build spans from."""

from __future__ import annotations

import uuid
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moxtrace import Provider
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
    "usage": {"input_tokens": 120, "output_tokens": 14, "cache_read_input_tokens": 100},
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
