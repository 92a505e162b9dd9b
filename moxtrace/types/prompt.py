"""Messages and prompt templates."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from moxtrace.types.blocks import ContentBlock, Variable
from moxtrace.types.content import Author, MessageRole
from moxtrace.types.schema import CompletionConfig, Schema, SdkTool

__all__ = ["Message", "PromptTemplate"]


class Message(BaseModel):
    """A reusable message with a role; shared by reference between prompts of a task.

    ``blocks`` is two-dimensional: the outer list holds paragraphs, the inner list
    the blocks inside one paragraph.
    """

    model_config = ConfigDict(extra="ignore")

    id: UUID
    name: str
    description: str | None = None
    role: MessageRole
    author: Author = Author.HUMAN
    blocks: list[list[ContentBlock]] = Field(default_factory=list)
    task_id: UUID | None = None

    @property
    def variables(self) -> list[Variable]:
        """Every variable in the message, in reading order."""
        return [b for row in self.blocks for b in row if isinstance(b, Variable)]


class PromptTemplate(BaseModel):
    """A template for one LLM invocation: messages, input schema, tools and settings.

    ``id`` is the anchor id: the same on every branch and commit. ``branch_id``,
    ``branch_name`` and ``commit_id`` say which version this copy was read from.
    """

    model_config = ConfigDict(extra="ignore")

    id: UUID
    name: str
    description: str | None = None
    task_id: UUID
    messages: list[Message] = Field(default_factory=list)
    input_schema: Schema | None = None
    tools: list[SdkTool] = Field(default_factory=list)
    completion_config: CompletionConfig | None = None
    branch_id: UUID | None = None
    branch_name: str | None = None
    commit_id: str | None = None

    @property
    def function_tools(self) -> list[SdkTool]:
        """The tools the model may call (``tool_type == "tool"``)."""
        return [t for t in self.tools if t.tool_type == "tool"]

    @property
    def structured_output_schema(self) -> SdkTool | None:
        """The structured-output schema, if the prompt has one."""
        return next((t for t in self.tools if t.tool_type == "structured_output"), None)
