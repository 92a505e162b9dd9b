"""Plain text blocks."""

from __future__ import annotations

from typing import Literal

from moxtrace.types.blocks._base import BlockModel

__all__ = ["TextContent", "TextContentModel"]


class TextContent(BlockModel):
    """A run of literal text.

    >>> TextContent(text="You are a helpful assistant.").text
    'You are a helpful assistant.'
    """

    block_type: Literal["text"] = "text"
    text: str


TextContentModel = TextContent
"""Alias kept for code written against the Moxn SDK's ``TextContentModel``."""
