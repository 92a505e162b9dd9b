"""Properties, schemas, tools and model settings."""

from __future__ import annotations

import json
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from moxtrace.types.content import Provider

__all__ = ["CompletionConfig", "Property", "Schema", "SchemaDefinition", "SdkTool"]

SchemaDefinition = dict[str, Any]
"""A JSON Schema document, as a plain dict."""


class Property(BaseModel):
    """A type definition for a variable, as JSON Schema in ``definition``."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    name: str
    description: str | None = None
    definition: SchemaDefinition = Field(default_factory=dict)


class Schema(BaseModel):
    """A compiled JSON Schema: a prompt's input schema, or a tool's parameters.

    ``exportedJSON`` holds the schema as a JSON string, with an ``x-moxn-metadata``
    entry naming the schema, prompt and task it belongs to.
    """

    model_config = ConfigDict(extra="ignore")

    id: UUID
    name: str
    description: str | None = None
    exportedJSON: str = "{}"  # the Moxn API spells it so

    @property
    def definition(self) -> SchemaDefinition:
        """``exportedJSON`` parsed into a dict."""
        parsed = json.loads(self.exportedJSON)
        return parsed if isinstance(parsed, dict) else {}

    @property
    def moxn_metadata(self) -> dict[str, Any]:
        """The schema's ``x-moxn-metadata`` entry (schema, prompt and task ids)."""
        meta = self.definition.get("x-moxn-metadata", {})
        return meta if isinstance(meta, dict) else {}


class SdkTool(BaseModel):
    """A tool offered to the model, or the schema its structured output must follow."""

    name: str
    description: str | None = None
    tool_type: Literal["tool", "structured_output"] = "tool"
    schema_: SchemaDefinition = Field(default_factory=dict, alias="schema")
    strict: bool = False

    model_config = ConfigDict(extra="ignore", populate_by_name=True, serialize_by_alias=True)

    @property
    def parameters(self) -> SchemaDefinition:
        """The JSON Schema of the tool's input (or of the structured output)."""
        return self.schema_


class CompletionConfig(BaseModel):
    """A prompt's default model settings; every field can be overridden per call."""

    model_config = ConfigDict(extra="allow")

    provider: Provider = Provider.ANTHROPIC
    model: str = "claude-sonnet-4-6"
    max_tokens: int = 4096
    temperature: float | None = None
    top_p: float | None = None
    tool_choice: str | None = None
    stop_sequences: list[str] | None = None
