"""Request bodies of the registry API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from moxtrace.types.blocks import ContentBlock
from moxtrace.types.content import Author, MessageRole

__all__ = ["MessageData"]


class MessageData(BaseModel):
    """A message to create with a prompt (``MoxnClient.create_prompt``)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    role: MessageRole
    blocks: list[list[ContentBlock]] = Field(default_factory=list)
    description: str | None = None
    author: Author = Author.HUMAN
