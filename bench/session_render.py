"""µs to render a prompt session and build each provider's invocation, against the floor.

Prints, in one run, per operation the median µs over interleaved rounds:

- the floor: the same Anthropic request written by hand (a dict literal with the values
  substituted by f-strings: what an application without moxtrace does);
- a new ``PromptSession`` rendered (variables filled: inline, block, JSON);
- rendered and turned into each provider's invocation (``to_*_invocation``);
- an Anthropic response parsed, and the ``LLMEvent`` made from it;

and each one's ratio to the floor. The prompt: a system message, a user message with
three variables (one a JSON object), two tools and a structured-output schema.

    python bench/session_render.py [--rounds 30] [--loops 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from moxtrace import PromptSession, Provider
from moxtrace.session import parse_response
from moxtrace.types import (
    CompletionConfig,
    Message,
    MessageRole,
    PromptTemplate,
    SdkTool,
    TextContent,
    Variable,
    VariableFormat,
)

SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}},
    "required": ["order_id"],
}
PROMPT = PromptTemplate(
    id=uuid.uuid4(),
    name="support-answer",
    task_id=uuid.uuid4(),
    commit_id="c1",
    messages=[
        Message(
            id=uuid.uuid4(),
            name="system",
            role=MessageRole.SYSTEM,
            blocks=[[TextContent(text="You are a support agent for "), Variable(name="company")]],
        ),
        Message(
            id=uuid.uuid4(),
            name="question",
            role=MessageRole.USER,
            blocks=[
                [TextContent(text="Customer: "), Variable(name="customer")],
                [Variable(name="order", format=VariableFormat.BLOCK)],
                [TextContent(text="Answer briefly.")],
            ],
        ),
    ],
    tools=[
        SdkTool(name="lookup_order", description="Find an order.", schema=SCHEMA),
        SdkTool(name="list_orders", schema={}),
        SdkTool(name="answer", tool_type="structured_output", schema=SCHEMA),
    ],
    completion_config=CompletionConfig(
        model="claude-sonnet-5", max_tokens=1024, tool_choice="auto"
    ),
)
DATA = {"company": "Acme", "customer": "Ada", "order": {"id": "A1", "items": ["lamp", "desk"]}}
RESPONSE = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-5",
    "content": [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_1", "name": "lookup_order", "input": {"order_id": "A1"}},
    ],
    "stop_reason": "tool_use",
    "usage": {"input_tokens": 120, "output_tokens": 40, "cache_read_input_tokens": 100},
}


def by_hand() -> dict[str, Any]:
    d = DATA
    order = json.dumps(d["order"], separators=(",", ":"))
    return {
        "model": "claude-sonnet-5",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": f"You are a support agent for {d['company']}"}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": f"Customer: {d['customer']}\n{order}\nAnswer briefly.",
                    }
                ],
            }
        ],
        "tools": [
            {"name": "lookup_order", "description": "Find an order.", "input_schema": SCHEMA},
            {"name": "list_orders", "input_schema": {"type": "object", "properties": {}}},
        ],
        "tool_choice": {"type": "auto"},
        "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}},
    }


def session() -> PromptSession:
    return PromptSession(PROMPT, DATA)


PARSED = parse_response(RESPONSE, Provider.ANTHROPIC)


def event() -> object:
    return session().create_llm_event_from_parsed_response(PARSED)


CASES: dict[str, Callable[[], object]] = {
    "floor: request by hand": by_hand,
    "render a new session": lambda: session().render(),
    "render + to_anthropic_invocation": lambda: session().to_anthropic_invocation(),
    "render + to_openai_chat_invocation": lambda: session().to_openai_chat_invocation(),
    "render + to_openai_responses_invocation": lambda: session().to_openai_responses_invocation(),
    "render + to_google_invocation": lambda: session().to_google_invocation(),
    "parse an Anthropic response": lambda: parse_response(RESPONSE, Provider.ANTHROPIC),
    "LLMEvent from a parsed response": event,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--loops", type=int, default=2000)
    args = parser.parse_args()
    assert session().to_anthropic_invocation() == by_hand(), "the floor must build the same request"
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.rounds):  # interleaved, so drift hits every case alike
        for name, case in CASES.items():
            start = time.perf_counter()
            for _ in range(args.loops):
                case()
            samples[name].append((time.perf_counter() - start) / args.loops * 1e6)
    floor = statistics.median(samples["floor: request by hand"])
    width = max(map(len, CASES))
    print(f"{'operation':<{width}}  {'µs':>8}  {'x floor':>8}")
    for name, values in samples.items():
        us = statistics.median(values)
        print(f"{name:<{width}}  {us:8.2f}  {us / floor:8.1f}")


if __name__ == "__main__":
    main()
