"""The prompt both sides use, built by hand so the example needs no registry."""

from __future__ import annotations

import uuid

from moxtrace import PromptSession, Provider
from moxtrace.types import CompletionConfig, Message, MessageRole, PromptTemplate, Variable

PROMPT = PromptTemplate(
    id=uuid.UUID("5d6f0a52-2f5e-4c59-9a4e-1f0c6f1b7a01"),
    name="answer-ticket",
    task_id=uuid.UUID("5d6f0a52-2f5e-4c59-9a4e-1f0c6f1b7a02"),
    commit_id="7f3a9c1",
    messages=[
        Message(
            id=uuid.UUID("5d6f0a52-2f5e-4c59-9a4e-1f0c6f1b7a03"),
            name="ticket",
            role=MessageRole.USER,
            blocks=[[Variable(name="ticket")]],
        )
    ],
    completion_config=CompletionConfig(provider=Provider.ANTHROPIC, model="claude-sonnet-4"),
)
RESPONSE = {  # what the Anthropic SDK returned, as a dict
    "id": "msg_017ticket",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "Sorry about that: a replacement ships today."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 18, "output_tokens": 11},
}


def session_for(ticket: str) -> PromptSession:
    return PromptSession(PROMPT, {"ticket": ticket})
