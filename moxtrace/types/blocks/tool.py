"""Tool interactions: a model's call of a tool, and the tool's answer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from moxtrace.types.blocks._base import BlockModel

__all__ = ["ToolCall", "ToolResult"]


class ToolCall(BlockModel):
    """A model asking for a tool to be run. ``input`` may be empty (``{}``)."""

    block_type: Literal["tool_call"] = "tool_call"
    tool_name: str
    tool_call_id: str
    input: dict[str, Any] = Field(default_factory=dict)


class ToolResult(BlockModel):
    """What a tool returned for the call with ``tool_call_id``."""

    block_type: Literal["tool_result"] = "tool_result"
    tool_call_id: str
    content: str | list[dict[str, Any]] | dict[str, Any] | None = None
    tool_name: str | None = None
    is_error: bool = False
