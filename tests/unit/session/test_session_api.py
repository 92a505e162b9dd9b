"""The ``moxtrace.session`` surface: exported names, and no provider SDK needed to use it."""

from __future__ import annotations

import subprocess
import sys

import moxtrace.session


def test_exported_names_exist_and_are_documented() -> None:
    for name in moxtrace.session.__all__:
        obj = getattr(moxtrace.session, name)
        if name == "SessionData":  # a type alias: documented in moxtrace.session.render
            continue
        assert obj.__doc__ and obj.__doc__ is not type(obj).__doc__, name


def test_sessions_work_without_the_provider_sdks() -> None:
    code = """
import sys
for name in ("anthropic", "openai", "google", "google.genai", "httpx2"):
    sys.modules[name] = None  # importing any of them now fails
import uuid
from moxtrace.session import PromptSession, parse_response
from moxtrace.types import (
    CompletionConfig, Message, MessageRole, PromptTemplate, Provider, Variable,
)
question = Message(
    id=uuid.uuid4(), name="q", role=MessageRole.USER, blocks=[[Variable(name="q")]]
)
prompt = PromptTemplate(
    id=uuid.uuid4(), name="p", task_id=uuid.uuid4(), messages=[question],
    completion_config=CompletionConfig(model="m"),
)
session = PromptSession(prompt, {"q": "hi"})
for provider in Provider:
    session.to_invocation(provider)
reply = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
parsed = parse_response(reply, Provider.OPENAI_CHAT)
print(parsed.text)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
