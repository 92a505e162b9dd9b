"""What the producer and worker programs share: a client writing spans to a file."""

from __future__ import annotations

import uuid

from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from moxtrace import MoxnClient, PromptSession, Provider
from moxtrace.types import CompletionConfig, Message, MessageRole, PromptTemplate, Variable
from tests.support.spanfile import FileSpanExporter

TASK_ID = uuid.UUID("00000000-0000-4000-8000-00000000aaaa")
ANSWER_PROMPT = PromptTemplate(
    id=uuid.UUID("00000000-0000-4000-8000-00000000bbbb"),
    name="answer-ticket",
    task_id=TASK_ID,
    commit_id="c0mm1t",
    messages=[
        Message(
            id=uuid.UUID("00000000-0000-4000-8000-00000000cccc"),
            name="question",
            role=MessageRole.USER,
            blocks=[[Variable(name="ticket")]],
        )
    ],
    completion_config=CompletionConfig(provider=Provider.ANTHROPIC, model="claude-sonnet-4"),
)
RESPONSE = {
    "id": "msg_w1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "Refund issued."}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 12, "output_tokens": 3},
}


def client_writing_to(path: str) -> MoxnClient:
    return MoxnClient(span_processors=[SimpleSpanProcessor(FileSpanExporter(path))])


def session(ticket: str) -> PromptSession:
    return PromptSession(ANSWER_PROMPT, {"ticket": ticket})
