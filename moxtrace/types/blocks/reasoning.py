"""Model reasoning: Anthropic's extended thinking and OpenAI/Google reasoning summaries."""

from __future__ import annotations

from typing import Literal

from moxtrace.types.blocks._base import BlockModel

__all__ = ["ReasoningContent", "ThinkingContent"]


class ThinkingContent(BlockModel):
    """Extended thinking (Anthropic). ``signature`` is kept so it can be sent back."""

    block_type: Literal["thinking"] = "thinking"
    text: str
    signature: str | None = None
    redacted: bool = False


class ReasoningContent(BlockModel):
    """A reasoning summary (OpenAI Responses, Google thought parts)."""

    block_type: Literal["reasoning"] = "reasoning"
    text: str
    id: str | None = None
