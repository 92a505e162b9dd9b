"""Prompts and session data the session tests share."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from pydantic import BaseModel

from moxtrace.types import (
    CompletionConfig,
    Message,
    MessageRole,
    PromptTemplate,
    Provider,
    SdkTool,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolResult,
    Variable,
    VariableFormat,
    VariableType,
)
from moxtrace.types.blocks import ContentBlock

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\n%%EOF"
PNG_B64 = base64.b64encode(PNG).decode()
PDF_B64 = base64.b64encode(PDF).decode()

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "eta_days": {"type": "integer"}},
    "required": ["answer", "eta_days"],
    "additionalProperties": False,
}
LOOKUP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}},
    "required": ["order_id"],
}


def message(role: MessageRole, *rows: list[ContentBlock], name: str = "m") -> Message:
    return Message(id=uuid.uuid4(), name=name, role=role, blocks=list(rows))


def prompt(
    *messages: Message,
    name: str = "support-answer",
    tools: list[SdkTool] | None = None,
    config: CompletionConfig | None = None,
) -> PromptTemplate:
    return PromptTemplate(
        id=uuid.uuid4(),
        name=name,
        task_id=uuid.uuid4(),
        commit_id="c0ffee",
        messages=list(messages),
        tools=tools or [],
        completion_config=config,
    )


def tools(*, structured: bool = True) -> list[SdkTool]:
    found = [
        SdkTool(
            name="lookup_order",
            description="Find an order by id.",
            schema={**LOOKUP_SCHEMA, "x-moxn-metadata": {"schema_id": "s1"}},
        ),
        SdkTool(name="list_orders", schema={}),
    ]
    if structured:
        found.append(
            SdkTool(
                name="Support Answer",
                description="The answer to the customer.",
                tool_type="structured_output",
                schema=ANSWER_SCHEMA,
                strict=True,
            )
        )
    return found


class SupportInput(BaseModel):
    """Session data for ``conversation_prompt``."""

    company: str
    order_id: int
    details: dict[str, Any]
    photo: Any
    invoice: Any = None


def conversation_prompt(provider: Provider = Provider.ANTHROPIC, **config: Any) -> PromptTemplate:
    """System text, a user turn with an image and a PDF, an assistant turn with thinking
    and a tool call, a tool result and a follow-up question; tools and structured output."""
    settings: dict[str, Any] = {
        "provider": provider,
        "model": "model-x",
        "max_tokens": 1024,
        "temperature": 0.2,
        "tool_choice": "auto",
        **config,
    }
    return prompt(
        message(
            MessageRole.SYSTEM,
            [
                TextContent(text="You are a support agent for "),
                Variable(name="company"),
                TextContent(text="."),
            ],
            [TextContent(text="Be brief.")],
            name="system",
        ),
        message(
            MessageRole.USER,
            [TextContent(text="Order: "), Variable(name="order_id")],
            [Variable(name="details", format=VariableFormat.BLOCK)],
            [Variable(name="photo", variable_type=VariableType.IMAGE)],
            [Variable(name="invoice", variable_type=VariableType.FILE, required=False)],
            name="question",
        ),
        message(
            MessageRole.ASSISTANT,
            [
                ThinkingContent(text="I should look the order up.", signature="sig-1"),
                TextContent(text="Let me check."),
                ToolCall(tool_name="lookup_order", tool_call_id="call_1", input={"order_id": "A1"}),
            ],
            name="lookup",
        ),
        message(
            MessageRole.USER,
            [ToolResult(tool_call_id="call_1", content={"status": "shipped"})],
            [TextContent(text="Thanks. When will it arrive?")],
            name="follow-up",
        ),
        tools=tools(),
        config=CompletionConfig(**settings),
    )


def support_input(**overrides: Any) -> SupportInput:
    values: dict[str, Any] = {
        "company": "Acme",
        "order_id": 1234,
        "details": {"items": ["lamp"], "gift": True},
        "photo": PNG,
        "invoice": {"data": PDF, "filename": "invoice.pdf"},
        **overrides,
    }
    return SupportInput(**values)


USER_TEXT = 'Order: 1234\n{"items":["lamp"],"gift":true}'
SYSTEM_TEXT = "You are a support agent for Acme.\nBe brief."
