"""The rendered form of a prompt: what every provider invocation is built from.

Rendering (``moxtrace.session.render``) fills a prompt's variables once; the result is a
``RenderedPrompt`` of ``RenderedMessage`` objects whose parts are plain values:

- ``TextContent`` — text, variables already substituted;
- ``Media`` — an image or a PDF, by URL or as inline bytes;
- ``ToolCall`` / ``ToolResult`` — tool use in the conversation history;
- ``ThinkingContent`` / ``ReasoningContent`` — a model's reasoning in the history.

Provider modules only translate these parts into their own shapes; none of them looks at
variables or session data.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Literal

from moxtrace.types.blocks import (
    ReasoningContent,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolResult,
)
from moxtrace.types.content import MessageRole

__all__ = ["Media", "MediaKind", "Part", "RenderedMessage", "RenderedPrompt"]

MediaKind = Literal["image", "pdf"]


@dataclass(frozen=True)
class Media:
    """An image or a PDF document, either by ``url`` or as inline ``data`` bytes.

    Exactly one of ``url`` and ``data`` is set. ``media_type`` is always set for inline
    data (``image/png``, ``application/pdf``...) and set for URLs when known. ``name`` is
    a PDF's file name or an image's alt text.

    >>> pdf = Media(kind="pdf", data=b"%PDF-1.7", media_type="application/pdf")
    >>> pdf.data_url()
    'data:application/pdf;base64,JVBERi0xLjc='
    """

    kind: MediaKind
    url: str | None = None
    data: bytes | None = None
    media_type: str | None = None
    name: str | None = None
    _base64: list[str] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise ValueError("Media needs exactly one of url and data")
        if self.data is not None and not self.media_type:
            raise ValueError("inline Media data needs a media_type")

    def base64(self) -> str:
        """The inline data, base64-encoded (computed once: images can be large)."""
        if self.data is None:
            raise ValueError("this Media is a URL, it has no inline data")
        if not self._base64:
            self._base64.append(base64.b64encode(self.data).decode("ascii"))
        return self._base64[0]

    def data_url(self) -> str:
        """The ``url``, or the inline data as a ``data:`` URL."""
        if self.url is not None:
            return self.url
        return f"data:{self.media_type};base64,{self.base64()}"


Part = TextContent | Media | ToolCall | ToolResult | ThinkingContent | ReasoningContent
"""One piece of a rendered message."""


@dataclass(frozen=True)
class RenderedMessage:
    """A message of the prompt with its variables filled: a role and its parts, in order."""

    role: MessageRole
    parts: tuple[Part, ...]
    name: str | None = None

    @property
    def text(self) -> str:
        """The text parts joined (blank-line separated)."""
        return "\n\n".join(p.text for p in self.parts if isinstance(p, TextContent))


@dataclass(frozen=True)
class RenderedPrompt:
    """A whole prompt, rendered: its messages in order, system messages included.

    Messages that rendered to nothing (say, one holding only an optional variable that
    was left out) are not kept.
    """

    prompt_name: str
    messages: tuple[RenderedMessage, ...]

    @property
    def system(self) -> tuple[RenderedMessage, ...]:
        """The system messages, in order."""
        return tuple(m for m in self.messages if m.role is MessageRole.SYSTEM)

    @property
    def conversation(self) -> tuple[RenderedMessage, ...]:
        """The user and assistant messages, in order."""
        return tuple(m for m in self.messages if m.role is not MessageRole.SYSTEM)

    @property
    def system_text(self) -> str:
        """Every system message's text, blank-line separated."""
        return "\n\n".join(m.text for m in self.system)

    def tool_names(self) -> dict[str, str]:
        """Tool name by tool-call id, from the tool calls in the history.

        Google needs a tool result's function name; a ``ToolResult`` may only carry the
        call's id.
        """
        return {
            part.tool_call_id: part.tool_name
            for message in self.messages
            for part in message.parts
            if isinstance(part, ToolCall)
        }
