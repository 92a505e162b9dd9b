"""Content blocks: the cells of a message's two-dimensional ``blocks`` grid.

``ContentBlock`` is a discriminated union on ``block_type``, so a list of blocks read
from JSON comes back as the right classes.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter

from moxtrace.types.blocks.image import ImageContentFromSource, SignedURLImageContent
from moxtrace.types.blocks.pdf import PDFContentFromSource, SignedURLPDFContent
from moxtrace.types.blocks.reasoning import ReasoningContent, ThinkingContent
from moxtrace.types.blocks.text import TextContent, TextContentModel
from moxtrace.types.blocks.tool import ToolCall, ToolResult
from moxtrace.types.blocks.variable import Variable

__all__ = [
    "ContentBlock",
    "ImageContentFromSource",
    "PDFContentFromSource",
    "ReasoningContent",
    "SignedURLImageContent",
    "SignedURLPDFContent",
    "TextContent",
    "TextContentModel",
    "ThinkingContent",
    "ToolCall",
    "ToolResult",
    "Variable",
    "content_block_adapter",
]

ContentBlock = Annotated[
    TextContent
    | Variable
    | ImageContentFromSource
    | SignedURLImageContent
    | PDFContentFromSource
    | SignedURLPDFContent
    | ToolCall
    | ToolResult
    | ThinkingContent
    | ReasoningContent,
    Field(discriminator="block_type"),
]

content_block_adapter: TypeAdapter[ContentBlock] = TypeAdapter(ContentBlock)
