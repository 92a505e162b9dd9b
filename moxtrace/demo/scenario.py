"""What the demo is about: a support task, its two prompts, typed session data, tickets.

The task has two prompts that share their first message (the persona) by reference:

- ``triage-ticket`` (OpenAI Chat, ``gpt-4o-mini``): classifies a ticket as JSON;
- ``answer-ticket`` (Anthropic, ``claude-sonnet-4-6``): answers it, with a
  ``lookup_order`` tool.

Sessions are rendered from typed session data (``TriageInput``, ``AnswerInput``):
pydantic models with a ``render()`` method, the shape ``moxtrace codegen`` generates.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from moxtrace.types import (
    CompletionConfig,
    MessageRole,
    Provider,
    SdkTool,
    TextContent,
    Variable,
)
from moxtrace.types.requests import MessageData

__all__ = [
    "ANSWER_CONFIG",
    "ANSWER_PROMPT",
    "ANSWER_QUESTION",
    "LOOKUP_ORDER_TOOL",
    "PERSONA",
    "TASK_NAME",
    "TICKETS",
    "TRIAGE_CONFIG",
    "TRIAGE_INSTRUCTIONS",
    "TRIAGE_PROMPT",
    "TRIAGE_QUESTION",
    "AnswerInput",
    "Customer",
    "Ticket",
    "TriageInput",
]

TASK_NAME = "Acme support (demo)"
TRIAGE_PROMPT = "triage-ticket"
ANSWER_PROMPT = "answer-ticket"

PERSONA = MessageData(
    name="Acme persona",
    role=MessageRole.SYSTEM,
    description="Shared by every prompt of the task",
    blocks=[
        [
            TextContent(
                text="You are Acme's customer-support assistant. Be concise and friendly, "
                "and never promise a refund you cannot issue."
            )
        ]
    ],
)
"""The system message both prompts use (created once, then shared by reference)."""

TRIAGE_INSTRUCTIONS = MessageData(
    name="Triage instructions",
    role=MessageRole.SYSTEM,
    blocks=[
        [
            TextContent(
                text='Classify the ticket. Answer with JSON only: {"category": '
                '"billing" | "shipping" | "account" | "other", "urgency": "high" | "low"}.'
            )
        ]
    ],
)

TRIAGE_QUESTION = MessageData(
    name="Ticket",
    role=MessageRole.USER,
    blocks=[
        [
            TextContent(text="From "),
            Variable(name="customer_name"),
            TextContent(text=" ("),
            Variable(name="plan"),
            TextContent(text=" plan):"),
        ],
        [Variable(name="ticket", description="The ticket's text")],
    ],
)

ANSWER_QUESTION = MessageData(
    name="Customer question",
    role=MessageRole.USER,
    blocks=[
        [
            Variable(name="customer_name"),
            TextContent(text=" asks (category "),
            Variable(name="category"),
            TextContent(text="):"),
        ],
        [Variable(name="question", description="The ticket's text")],
    ],
)

LOOKUP_ORDER_TOOL = SdkTool(
    name="lookup_order",
    description="The shipping status of an order",
    schema={
        "type": "object",
        "properties": {"order_id": {"type": "string", "description": "e.g. A-1042"}},
        "required": ["order_id"],
    },
)

TRIAGE_CONFIG = CompletionConfig(provider=Provider.OPENAI_CHAT, model="gpt-4o-mini", max_tokens=256)
ANSWER_CONFIG = CompletionConfig(
    provider=Provider.ANTHROPIC, model="claude-sonnet-4-6", max_tokens=1024
)


class Customer(BaseModel):
    """Who wrote in."""

    id: str
    name: str
    plan: Literal["free", "pro", "enterprise"]


class Ticket(BaseModel):
    """One support ticket."""

    id: str
    customer: Customer
    channel: Literal["email", "chat"]
    text: str


class TriageInput(BaseModel):
    """Session data of ``triage-ticket``."""

    ticket: Ticket

    def render(self, **kwargs: object) -> dict[str, str]:
        """The prompt's variables."""
        return {
            "customer_name": self.ticket.customer.name,
            "plan": self.ticket.customer.plan,
            "ticket": self.ticket.text,
        }


class AnswerInput(BaseModel):
    """Session data of ``answer-ticket``: the ticket and how it was triaged."""

    ticket: Ticket
    category: str

    def render(self, **kwargs: object) -> dict[str, str]:
        """The prompt's variables."""
        return {
            "customer_name": self.ticket.customer.name,
            "category": self.category,
            "question": self.ticket.text,
        }


TICKETS: tuple[Ticket, ...] = (
    Ticket(
        id="T-1001",
        customer=Customer(id="cust_1001", name="Dana Whitfield", plan="pro"),
        channel="email",
        text="Where is my order A-1042? It was due Monday.",
    ),
    Ticket(
        id="T-1002",
        customer=Customer(id="cust_1002", name="Luis Ortega", plan="free"),
        channel="chat",
        text="How do I change the email address on my account?",
    ),
    Ticket(
        id="T-1003",
        customer=Customer(id="cust_1003", name="Mei Tanaka", plan="enterprise"),
        channel="email",
        text="I was charged twice for my March subscription!",
    ),
)
"""The demo's tickets: a tool call, a direct answer, and a provider error."""
