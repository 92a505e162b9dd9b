"""The demo's stand-in model: SDK-shaped answers to the invocations sessions build."""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import anthropic
import openai
import pytest

from moxtrace import PromptSession, Provider
from moxtrace.demo.model import StandInAPIError, StandInModel, lookup_order
from moxtrace.demo.scenario import (
    ANSWER_CONFIG,
    ANSWER_QUESTION,
    LOOKUP_ORDER_TOOL,
    PERSONA,
    TICKETS,
    TRIAGE_CONFIG,
    TRIAGE_INSTRUCTIONS,
    TRIAGE_QUESTION,
    AnswerInput,
    TriageInput,
)
from moxtrace.session import parse_response
from moxtrace.types import Message, PromptTemplate
from moxtrace.types.requests import MessageData
from moxtrace.types.telemetry import StopReason

TASK = uuid.uuid4()


def prompt(name: str, messages: list[MessageData], **extra: Any) -> PromptTemplate:
    return PromptTemplate(
        id=uuid.uuid4(),
        name=name,
        task_id=TASK,
        commit_id="c0ffee",
        messages=[Message(id=uuid.uuid4(), **m.model_dump()) for m in messages],
        **extra,
    )


TRIAGE = prompt(
    "triage-ticket",
    [PERSONA, TRIAGE_INSTRUCTIONS, TRIAGE_QUESTION],
    completion_config=TRIAGE_CONFIG,
)
ANSWER = prompt(
    "answer-ticket",
    [PERSONA, ANSWER_QUESTION],
    completion_config=ANSWER_CONFIG,
    tools=[LOOKUP_ORDER_TOOL],
)
SHIPPING, ACCOUNT, BILLING = TICKETS


def answer(ticket: Any, category: str) -> PromptSession:
    return PromptSession(ANSWER, AnswerInput(ticket=ticket, category=category))


async def test_triage_answers_like_openai_chat_completions() -> None:
    session = PromptSession(TRIAGE, TriageInput(ticket=SHIPPING))
    invocation = session.to_openai_chat_invocation()
    typed = await StandInModel(latency=0).openai.chat.completions.create(**invocation)
    plain = await StandInModel(latency=0, sdk_types=False).openai.chat.completions.create(
        **invocation
    )
    assert isinstance(typed, openai.types.chat.ChatCompletion)
    assert isinstance(plain, dict)
    assert typed.model_dump(exclude_unset=True) == plain  # the same payload
    assert json.loads(typed.choices[0].message.content or "") == {
        "category": "shipping",
        "urgency": "high",
    }
    parsed = parse_response(typed, Provider.OPENAI_CHAT)
    assert parsed.usage.input_tokens == plain["usage"]["prompt_tokens"] > 20
    assert parsed.stop_reason is StopReason.STOP
    assert parse_response(plain, Provider.OPENAI_CHAT).usage == parsed.usage


@pytest.mark.parametrize(
    ("ticket", "expected"),
    [(SHIPPING, "shipping"), (ACCOUNT, "account"), (BILLING, "billing")],
)
async def test_triage_reads_the_ticket_not_the_instructions(ticket: Any, expected: str) -> None:
    session = PromptSession(TRIAGE, TriageInput(ticket=ticket))
    completion = await StandInModel(latency=0, sdk_types=False).openai_chat_completion(
        session.to_openai_chat_invocation()
    )
    assert json.loads(completion["choices"][0]["message"]["content"])["category"] == expected


async def test_answer_asks_for_the_tool_then_answers_from_its_result() -> None:
    session = answer(SHIPPING, "shipping")
    model = StandInModel(latency=0)
    first = await model.anthropic.messages.create(**session.to_anthropic_invocation())
    assert isinstance(first, anthropic.types.Message)
    assert [block.type for block in first.content] == ["thinking", "text", "tool_use"]
    assert first.stop_reason == "tool_use"
    parsed = session.append_response(first)
    (call,) = parsed.tool_calls
    assert call.tool_name == "lookup_order" and call.input == {"order_id": "A-1042"}
    session.append_tool_result(call.tool_call_id, lookup_order("A-1042"), tool_name="lookup_order")
    second = await model.anthropic.messages.create(**session.to_anthropic_invocation())
    assert second.stop_reason == "end_turn"
    assert "arrive Thursday" in session.parse_response(second).text
    assert second.usage.input_tokens > first.usage.input_tokens  # the conversation grew
    assert model.calls == 2


async def test_answer_dicts_are_the_sdk_payloads() -> None:
    invocation = answer(SHIPPING, "shipping").to_anthropic_invocation()
    typed = await StandInModel(latency=0).anthropic_message(invocation)
    plain = await StandInModel(latency=0, sdk_types=False).anthropic_message(invocation)
    assert typed.model_dump(exclude_unset=True) == plain
    again = await StandInModel(latency=0, sdk_types=False).anthropic_message(invocation)
    assert again == plain  # deterministic: ids and token counts too


async def test_the_charged_twice_ticket_overloads_the_model() -> None:
    invocation = answer(BILLING, "billing").to_anthropic_invocation()
    with pytest.raises(anthropic.OverloadedError) as raised:
        await StandInModel(latency=0).anthropic.messages.create(**invocation)
    assert raised.value.status_code == 529
    assert raised.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


async def test_without_the_sdk_the_error_has_the_same_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)  # import anthropic fails
    invocation = answer(BILLING, "billing").to_anthropic_invocation()
    with pytest.raises(StandInAPIError) as raised:
        await StandInModel(latency=0, sdk_types=False).anthropic_message(invocation)
    assert raised.value.status_code == 529
    assert raised.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
