"""A task's content at one version, and every edit of it, as pure functions.

A branch's working state and a commit's snapshot are the same document: a ``TaskState``
(stored as JSON). Editing a branch is reading its state, applying one of the functions
here, and writing it back; committing copies it. Nothing here does I/O, so the registry's
rules (messages shared by reference, input schemas regenerated on every edit, anchor ids
fixed at creation) are tested without a database.

The API shapes (``PromptTemplate``, ``Task``... of docs/registry-api.md) are rendered from a
state by ``prompt_json`` and ``task_json``, stamped with the version they were read from.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from moxtrace.types.content import Author, MessageRole, VariableType

__all__ = [
    "EditError",
    "StoredMessage",
    "StoredPrompt",
    "StoredProperty",
    "TaskState",
    "Version",
    "input_schema",
    "prompt_json",
    "refresh_schemas",
    "schema_name",
    "task_json",
]


class EditError(Exception):
    """An edit that cannot be applied: ``status`` 404 (unknown id) or 400 (invalid)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class StoredMessage(BaseModel):
    """A message in a state; ``blocks`` are the JSON of validated content blocks."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    name: str
    description: str | None = None
    role: MessageRole
    author: Author = Author.HUMAN
    blocks: list[list[dict[str, Any]]] = Field(default_factory=list)


class StoredProperty(BaseModel):
    """A named type definition; variables of the same name (or ``property_id``) use it."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    name: str
    description: str | None = None
    definition: dict[str, Any] = Field(default_factory=dict)


class StoredPrompt(BaseModel):
    """A prompt in a state: its messages by reference, and its generated input schema."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    name: str
    description: str | None = None
    message_ids: list[UUID] = Field(default_factory=list)
    tools: list[dict[str, Any]] = Field(default_factory=list)
    completion_config: dict[str, Any] | None = None
    schema_id: UUID
    schema_name: str = ""
    input_schema: dict[str, Any] = Field(default_factory=dict)


class TaskState(BaseModel):
    """The whole content of a task at one version. Dicts keep creation order."""

    model_config = ConfigDict(extra="ignore")

    name: str
    description: str | None = None
    prompts: dict[str, StoredPrompt] = Field(default_factory=dict)
    messages: dict[str, StoredMessage] = Field(default_factory=dict)
    properties: dict[str, StoredProperty] = Field(default_factory=dict)

    # -- lookups ------------------------------------------------------------------------------
    def prompt(self, prompt_id: UUID) -> StoredPrompt:
        """The prompt, or ``EditError`` 404."""
        found = self.prompts.get(str(prompt_id))
        if found is None:
            raise EditError(404, f"prompt {prompt_id} does not exist in this version")
        return found

    def message(self, message_id: UUID) -> StoredMessage:
        """The message, or ``EditError`` 404."""
        found = self.messages.get(str(message_id))
        if found is None:
            raise EditError(404, f"message {message_id} does not exist in this version")
        return found

    def property(self, property_id: UUID) -> StoredProperty:
        """The property, or ``EditError`` 404."""
        found = self.properties.get(str(property_id))
        if found is None:
            raise EditError(404, f"property {property_id} does not exist in this version")
        return found

    def prompts_using(self, message_id: UUID) -> list[UUID]:
        """The prompts whose messages include ``message_id``."""
        return [p.id for p in self.prompts.values() if message_id in p.message_ids]

    # -- edits (each leaves the input schemas in sync) ----------------------------------------
    def add_message(
        self,
        *,
        name: str,
        role: MessageRole,
        blocks: list[list[dict[str, Any]]],
        description: str | None = None,
        author: Author = Author.HUMAN,
        message_id: UUID | None = None,
    ) -> StoredMessage:
        """A new message (not yet used by any prompt)."""
        message = StoredMessage(
            id=message_id or uuid.uuid4(),
            name=name,
            description=description,
            role=role,
            author=author,
            blocks=blocks,
        )
        self.messages[str(message.id)] = message
        return message

    def update_message(self, message_id: UUID, changes: Mapping[str, Any]) -> StoredMessage:
        """Change a message; every prompt using it (and its input schema) follows."""
        message = self.message(message_id)
        self.messages[str(message_id)] = StoredMessage.model_validate(
            {**message.model_dump(), **changes}
        )
        refresh_schemas(self)
        return self.messages[str(message_id)]

    def add_property(
        self,
        *,
        name: str,
        definition: dict[str, Any],
        description: str | None = None,
        property_id: UUID | None = None,
    ) -> StoredProperty:
        """A new property; input schemas with a variable of that name use it."""
        prop = StoredProperty(
            id=property_id or uuid.uuid4(),
            name=name,
            description=description,
            definition=definition,
        )
        self.properties[str(prop.id)] = prop
        refresh_schemas(self)
        return prop

    def update_property(self, property_id: UUID, changes: Mapping[str, Any]) -> StoredProperty:
        """Change a property; the input schemas follow."""
        prop = self.property(property_id)
        self.properties[str(property_id)] = StoredProperty.model_validate(
            {**prop.model_dump(), **changes}
        )
        refresh_schemas(self)
        return self.properties[str(property_id)]

    def add_prompt(
        self,
        *,
        name: str,
        message_ids: list[UUID],
        description: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        completion_config: dict[str, Any] | None = None,
        prompt_id: UUID | None = None,
        schema_id: UUID | None = None,
    ) -> StoredPrompt:
        """A new prompt over existing messages of this state."""
        for message_id in message_ids:
            self.message(message_id)
        prompt = StoredPrompt(
            id=prompt_id or uuid.uuid4(),
            name=name,
            description=description,
            message_ids=list(message_ids),
            tools=tools or [],
            completion_config=completion_config,
            schema_id=schema_id or uuid.uuid4(),
        )
        self.prompts[str(prompt.id)] = prompt
        refresh_schemas(self)
        return self.prompts[str(prompt.id)]

    def update_prompt(self, prompt_id: UUID, changes: Mapping[str, Any]) -> StoredPrompt:
        """Change a prompt (``message_ids`` replaces its messages, each must exist)."""
        prompt = self.prompt(prompt_id)
        for message_id in changes.get("message_ids") or ():
            self.message(message_id)
        self.prompts[str(prompt_id)] = StoredPrompt.model_validate(
            {**prompt.model_dump(), **changes}
        )
        refresh_schemas(self)
        return self.prompts[str(prompt_id)]

    def delete_prompt(self, prompt_id: UUID) -> None:
        """Remove a prompt (its messages stay: other prompts may share them)."""
        self.prompt(prompt_id)
        del self.prompts[str(prompt_id)]
        refresh_schemas(self)


# -- input schemas ----------------------------------------------------------------------------
def _pascal(name: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", name)
    text = "".join(w[:1].upper() + w[1:] for w in words) or "Prompt"
    return f"P{text}" if text[0].isdigit() else text


def schema_name(prompt_name: str) -> str:
    """A prompt's input schema name: PascalCase plus ``Input``.

    >>> schema_name("Product help")
    'ProductHelpInput'
    """
    return f"{_pascal(prompt_name)}Input"


def _variables(blocks: Iterable[Iterable[Mapping[str, Any]]]) -> Iterable[Mapping[str, Any]]:
    for row in blocks:
        for block in row:
            if block.get("block_type") == "variable":
                yield block


def _variable_schema(
    variable: Mapping[str, Any],
    by_id: Mapping[str, StoredProperty],
    by_name: Mapping[str, StoredProperty],
) -> dict[str, Any]:
    prop = None
    property_id = variable.get("property_id")
    if property_id is not None:
        prop = by_id.get(str(property_id))
    if prop is None:
        prop = by_name.get(str(variable.get("name")))
    description = variable.get("description")
    if prop is not None:
        schema = json.loads(json.dumps(prop.definition))  # a copy the caller may own
        if not isinstance(schema, dict) or not schema:
            schema = {"type": "string"}
        if "description" not in schema and (description or prop.description):
            schema["description"] = description or prop.description
        return schema
    kind = variable.get("variable_type", VariableType.PRIMITIVE.value)
    schema = {"type": "string"}
    if kind in (VariableType.IMAGE.value, VariableType.FILE.value):
        schema["x-moxn-variable-type"] = kind
    if description:
        schema["description"] = description
    return schema


def input_schema(prompt: StoredPrompt, state: TaskState, name: str) -> dict[str, Any]:
    """The JSON Schema of a prompt's variables (without ``x-moxn-metadata``).

    Variables are taken in prompt order, each name once; one that is required anywhere
    is required.
    """
    by_id = state.properties
    by_name = {p.name: p for p in state.properties.values()}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for message_id in prompt.message_ids:
        message = state.messages.get(str(message_id))
        if message is None:
            continue
        for variable in _variables(message.blocks):
            var_name = str(variable.get("name"))
            if var_name not in properties:
                properties[var_name] = _variable_schema(variable, by_id, by_name)
            if variable.get("required", True) and var_name not in required:
                required.append(var_name)
    schema: dict[str, Any] = {"title": name, "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if prompt.description:
        schema["description"] = prompt.description
    return schema


def refresh_schemas(state: TaskState) -> None:
    """Regenerate every prompt's input schema and its (task-unique) name."""
    taken: set[str] = set()
    for prompt in state.prompts.values():
        base = schema_name(prompt.name)
        name, n = base, 2
        while name in taken:
            name, n = f"{base}{n}", n + 1
        taken.add(name)
        prompt.schema_name = name
        prompt.input_schema = input_schema(prompt, state, name)


# -- API shapes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Version:
    """What a read is stamped with: a branch (``branch_id``, ``branch_name``) or a commit."""

    branch_id: UUID | None = None
    branch_name: str | None = None
    commit_id: str | None = None

    def stamp(self) -> dict[str, Any]:
        """``{"commit_id"}`` or ``{"branch_id", "branch_name"}``, for ``x-moxn-metadata``."""
        if self.commit_id is not None:
            return {"commit_id": self.commit_id}
        return {"branch_id": str(self.branch_id), "branch_name": self.branch_name}

    def fields(self) -> dict[str, Any]:
        """The ``branch_id``, ``branch_name``, ``commit_id`` members of a read."""
        if self.commit_id is not None:
            return {"branch_id": None, "branch_name": None, "commit_id": self.commit_id}
        return {
            "branch_id": str(self.branch_id),
            "branch_name": self.branch_name,
            "commit_id": None,
        }


def message_json(message: StoredMessage, task_id: UUID) -> dict[str, Any]:
    """A ``Message`` as the API returns it."""
    return {
        "id": str(message.id),
        "name": message.name,
        "description": message.description,
        "role": message.role.value,
        "author": message.author.value,
        "blocks": message.blocks,
        "task_id": str(task_id),
    }


def property_json(prop: StoredProperty, task_id: UUID) -> dict[str, Any]:
    """A ``Property`` as the API returns it."""
    return {
        "id": str(prop.id),
        "name": prop.name,
        "description": prop.description,
        "definition": prop.definition,
        "task_id": str(task_id),
    }


def schema_definition(prompt: StoredPrompt, task_id: UUID, version: Version) -> dict[str, Any]:
    """A prompt's input schema with its ``x-moxn-metadata``."""
    return {
        **prompt.input_schema,
        "x-moxn-metadata": {
            "schema_id": str(prompt.schema_id),
            "prompt_id": str(prompt.id),
            "task_id": str(task_id),
            **version.stamp(),
        },
    }


def prompt_json(
    state: TaskState, prompt: StoredPrompt, task_id: UUID, version: Version
) -> dict[str, Any]:
    """A ``PromptTemplate`` as the API returns it, read from ``version``."""
    definition = schema_definition(prompt, task_id, version)
    return {
        "id": str(prompt.id),
        "name": prompt.name,
        "description": prompt.description,
        "task_id": str(task_id),
        "messages": [
            message_json(state.messages[str(m)], task_id)
            for m in prompt.message_ids
            if str(m) in state.messages
        ],
        "input_schema": {
            "id": str(prompt.schema_id),
            "name": prompt.schema_name,
            "description": prompt.description,
            "exportedJSON": json.dumps(definition, separators=(",", ":")),
        },
        "tools": prompt.tools,
        "completion_config": prompt.completion_config,
        **version.fields(),
    }


def task_json(
    state: TaskState,
    task_id: UUID,
    version: Version,
    branches: list[dict[str, Any]],
    last_commit: dict[str, Any] | None,
) -> dict[str, Any]:
    """A ``Task`` as the API returns it, read from ``version``."""
    return {
        "id": str(task_id),
        "name": state.name,
        "description": state.description,
        "prompts": [prompt_json(state, p, task_id, version) for p in state.prompts.values()],
        "definitions": {
            p.schema_name: schema_definition(p, task_id, version) for p in state.prompts.values()
        },
        "branches": branches,
        "last_commit": last_commit,
        **version.fields(),
    }
